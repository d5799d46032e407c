"""One Rhythm tenant's course offerings: what the emulator holds, in DynamoDB-like scan order.

Records are scanned in id order (DynamoDB hands out an order of its own that is neither
creation nor modification time: seed-apis.md §2.4 "treat it as unordered"), so a continuation
key still has a place after its record is deleted. Writes keep the documented ``sys_*`` audit
fields (seed 001): ``sys_created_at``/``_by_id``, ``sys_last_modified_at``/``_by_id`` (ISO-8601)
and ``sys_version``. ``seed`` and ``enter`` add records "entered by users" in the Rhythm
console, holding the target-only fields the docs list, so tests can see a sync keep or lose them.
"""

from __future__ import annotations

import bisect
import random
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from offering_sync.emulators.rhythm_schema import TYPES

__all__ = ["SERVER_FIELDS", "TARGET_ONLY_FIELDS", "Tenant", "user_fields"]

DEMO_TENANT = "demo-tenant"
SERVER_FIELDS = ("id", "sys_created_at", "sys_created_by_id", "sys_last_modified_at",
                 "sys_last_modified_by_id", "sys_version")
"""Set by the server; a client's values for them are ignored (our reading)."""
CLIENT_SYS_FIELDS = ("sys_external_id", "sys_locked")
"""The only ``sys_*`` fields a client may set (our reading of their descriptions)."""
TARGET_ONLY_FIELDS = ("publish_to_portal", "fee_id", "credits_to_assign",
                      "eligibility_requirements", "enable_eligibility_requirements",
                      "enable_webinar_integration", "webinar_integration_options", "sell_from",
                      "sell_until", "program_ids", "survey_url", "override_credit_assignment",
                      "enable_capacity", "custom_field_values")
"""Fields users set in Rhythm that no source of ours maps (``custom_field_values`` partly)."""


def stamp(moment: float) -> str:
    """ISO-8601 with milliseconds and ``Z``, as ``sys_*_at`` fields are written."""
    when = datetime.fromtimestamp(moment, UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def user_fields(index: int, start: datetime) -> dict[str, Any]:
    """Target-only fields a Rhythm user fills in (seed 001 names), varied by ``index``."""
    webinar = index % 3 == 0
    fields: dict[str, Any] = {
        "publish_to_portal": index % 2 == 0, "fee_id": f"fee-{index % 5}",
        "credits_to_assign": [{"credit_type_id": "ceu", "quantity": 1.5,
                               "automatically_verify": True}],
        "enable_eligibility_requirements": True,
        "eligibility_requirements": {"members": True, "non_members": False,
                                     "member_options": {"member_statuses": ["active"]},
                                     "entitlement_restrictions": [{"type_id": "ent-1",
                                                                   "quantity": 1}]},
        "enable_webinar_integration": webinar,
        "sell_from": (start - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sell_until": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "program_ids": [f"program-{index % 4}"], "survey_url": "https://survey.example/s",
        "override_credit_assignment": False, "enable_capacity": True,
        "custom_field_values": [{"custom_field_id": "cf_region", "string_value": "Southeast"}],
    }
    if webinar:
        fields["webinar_integration_options"] = {
            "webinar_account_id": "zoom-1", "webinar_service": "integrations-zoom-accounts",
            "type": "webinar", "webinar_id": f"9{index:08d}"}
    return fields


class Tenant:
    """One tenant's offerings by id, with the prior version of recent writes (stale reads)."""

    def __init__(self, tenant_id: str = DEMO_TENANT,
                 clock: Callable[[], float] = time.time) -> None:
        self.tenant_id = tenant_id
        self.clock = clock
        self.records: dict[str, dict[str, Any]] = {}
        self.recent: dict[str, tuple[dict[str, Any] | None, float]] = {}
        self.lock = threading.RLock()

    # -- as users enter data ----------------------------------------------------------------

    def seed(self, count: int, seed: int = 1) -> list[str]:
        """Add ``count`` offerings as users would enter them; returns their ids."""
        rng = random.Random(seed)
        ids = []
        for index in range(count):
            start = datetime(2026, 1, 5, 14, tzinfo=UTC) + timedelta(days=index % 300)
            record = {
                "name": f"Rhythm course {index} – Führung", "course_id": f"course-{index % 7}",
                "type": rng.choice(TYPES), "timezone": "America/New_York",
                "timezone_mode": "local",
                "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end_date": (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "capacity_options": {"capacity": rng.randrange(0, 60)},
                "training_location_id": "loc-1", "training_provider_id": "prov-1",
                "address": {"city": "Columbia", "state": "SC", "country": "US"},
                **user_fields(index, start),
            }
            ids.append(self.enter(record)["id"])
        return ids

    def enter(self, record: dict[str, Any], *, by: str = "console-user") -> dict[str, Any]:
        """Store ``record`` as typed in the Rhythm console (no API validation)."""
        return self._store(None, {k: v for k, v in record.items() if k not in SERVER_FIELDS},
                           by=by)

    # -- as the API writes --------------------------------------------------------------------

    def insert(self, body: dict[str, Any]) -> dict[str, Any]:
        """A create: the server generates the id (Course-Offerings tag)."""
        return self._store(None, _client_fields(body), by="api")

    def replace(self, offering_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A full replacement: what the body does not carry is gone (our reading of PUT)."""
        return self._store(offering_id, _client_fields(body), by="api")

    def delete(self, offering_id: str) -> dict[str, Any] | None:
        """Remove one offering; returns it as it was."""
        with self.lock:
            gone = self.records.pop(offering_id, None)
            if gone is not None:
                self.recent[offering_id] = (gone, self.clock())
            return gone

    def _store(self, offering_id: str | None, fields: dict[str, Any], *, by: str,
               ) -> dict[str, Any]:
        with self.lock:
            now = self.clock()
            offering_id = offering_id or secrets.token_hex(8)
            current = self.records.get(offering_id)
            record = {**fields, "id": offering_id,
                      "sys_created_at": current["sys_created_at"] if current else stamp(now),
                      "sys_created_by_id": current["sys_created_by_id"] if current else by,
                      "sys_last_modified_at": stamp(now), "sys_last_modified_by_id": by,
                      "sys_version": current["sys_version"] + 1 if current else 1}
            self.recent[offering_id] = (current, now)
            self.records[offering_id] = record
            return record

    # -- reads ------------------------------------------------------------------------------

    def read(self, offering_id: str, *, stale_for: float = 0.0) -> dict[str, Any] | None:
        """One record; within ``stale_for`` seconds of a write, possibly the one before it."""
        with self.lock:
            if stale_for:
                seen, prior = self._prior(offering_id, stale_for)
                if seen:
                    return prior
            return self.records.get(offering_id)

    def scan(self, after: str | None, limit: int, *, stale_for: float = 0.0,
             ) -> tuple[list[dict[str, Any]], bool]:
        """Up to ``limit`` records after id ``after`` in scan order, and whether more follow."""
        with self.lock:
            ids = sorted(set(self.records) | (set(self.recent) if stale_for else set()))
            position = bisect.bisect_right(ids, after) if after is not None else 0
            items: list[dict[str, Any]] = []
            for offering_id in ids[position:]:
                record = self.read(offering_id, stale_for=stale_for)
                if record is None:
                    continue
                if len(items) == limit:
                    return items, True
                items.append(record)
            return items, False

    def _prior(self, offering_id: str, window: float) -> tuple[bool, dict[str, Any] | None]:
        """Whether a write is within ``window`` seconds, and the record before it."""
        entry = self.recent.get(offering_id)
        if entry is None or self.clock() - entry[1] > window:
            return False, None
        return True, entry[0]


def _client_fields(body: dict[str, Any]) -> dict[str, Any]:
    """What a client may set: everything but server-managed ``sys_*`` fields."""
    return {k: v for k, v in body.items()
            if not k.startswith("sys_") or k in CLIENT_SYS_FIELDS}
