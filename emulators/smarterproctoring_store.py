"""SmarterProctoring offerings as the emulator holds them, and the add/update body.

The body is ``Model19``/``Model153`` of openapi.json (seed 002): ``title`` and ``matchStrings``
required strings, ``startDate``/``endDate`` nullable and ``pattern: .*Z``. An offering answers
``sid``, ``lastActivityDate``, ``title``, ``matchStrings`` (a list), ``startDate``, ``endDate``,
``createdDate``, ``editDate``. Our readings: dates must parse as ISO-8601 ending in ``Z``
(``x-format: isoDate``); ``matchStrings`` is split on commas, empty pieces dropped; every write
sets ``lastActivityDate`` and ``editDate``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from offering_sync.emulators.answers import EXAMPLE_DATES

__all__ = ["DEMO_INSTALL", "Install", "OfferingPayload"]

DEMO_INSTALL = "AI" + "0123456789abcdef" * 2


def _ends_in_z(value: str) -> str:
    try:
        if not value.endswith("Z"):
            raise ValueError
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        raise ValueError("fails to match the required pattern: /.*Z/") from None
    return value


IsoZ = Annotated[str, AfterValidator(_ends_in_z),
                 Field(json_schema_extra={"pattern": EXAMPLE_DATES.replace("Z$", r"\.000Z$"),
                                          "example": "1970-01-01T00:00:00.000Z"})]
"""``pattern: .*Z`` and ``x-format: isoDate`` (openapi.json): checked by parsing; the OpenAPI
pattern only describes the usual form, for fuzzing."""


class OfferingPayload(BaseModel):
    """The add/update body (``Model19``/``Model153`` in openapi.json; seed 002)."""

    model_config = ConfigDict(extra="ignore", strict=True,
                              json_schema_extra={"additionalProperties": False})

    title: str = Field(min_length=1, description="Human-readable title for the course offering")
    matchStrings: str = Field(min_length=1,  # noqa: N815 - the vendor's name
                              description="Comma-separated list of text patterns")
    startDate: IsoZ | None = None  # noqa: N815
    endDate: IsoZ | None = None  # noqa: N815


def _stamp(moment: float) -> str:
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


class Install:
    """One install's course offerings by SID, in creation order."""

    def __init__(self, sid: str = DEMO_INSTALL, clock: Callable[[], float] = time.time) -> None:
        self.sid = sid
        self.clock = clock
        self.offerings: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def seed(self, count: int) -> list[str]:
        """Add generated offerings (terms, as proctoring installs usually hold)."""
        sids = []
        for index in range(count):
            start = datetime(2026, 1, 12, tzinfo=UTC) + timedelta(days=7 * index)
            sids.append(self.save(None, {
                "title": f"Term {index} Spring 2026",
                "matchStrings": f"SP26-{index},Spring 2026 {index}",
                "startDate": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "endDate": (start + timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            })["sid"])
        return sids

    def seed_hand_made(self) -> dict[str, str]:
        """Offerings an administrator made by hand; returns their SIDs by a short name.

        Two same-title "CPR Certification" offerings in different months (normal for one
        course) and an ACLS offering whose match strings are not its title.
        """
        made: dict[str, dict[str, Any]] = {
            "cpr_october": {"title": "CPR Certification", "matchStrings": "CPR-OCT,CPR 10/2026",
                            "startDate": "2026-10-05T13:00:00.000Z",
                            "endDate": "2026-10-05T17:00:00.000Z"},
            "cpr_november": {"title": "CPR Certification", "matchStrings": "CPR-NOV,CPR 11/2026",
                             "startDate": "2026-11-09T14:00:00.000Z",
                             "endDate": "2026-11-09T18:00:00.000Z"},
            "acls": {"title": "Advanced Cardiac Life Support", "matchStrings": "ACLS,ACLS-2026",
                     "startDate": "2026-09-01T00:00:00.000Z", "endDate": None},
        }
        return {name: self.save(None, body)["sid"] for name, body in made.items()}

    def save(self, sid: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """Create (``sid`` None) or fully replace an offering."""
        with self.lock:
            now = _stamp(self.clock())
            sid = sid or "CO" + secrets.token_hex(16)
            old = self.offerings.get(sid, {})
            record = {"sid": sid, "lastActivityDate": now, "title": body["title"],
                      "matchStrings": [s for s in str(body["matchStrings"]).split(",") if s],
                      "startDate": body.get("startDate"), "endDate": body.get("endDate"),
                      "createdDate": old.get("createdDate", now), "editDate": now}
            self.offerings[sid] = record
            return record
