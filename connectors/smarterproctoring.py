"""SmarterProctoring: course offerings of one install, as source and target.

Docs: developers.smarterservices.com (update-course-offering, authentication) and the
``openapi.json`` of SmarterServices/Platform-Documenation. A JWT issued by the account manager
goes in a ``token`` header (no token endpoint: a 401 means re-provision, never retry). Offerings
have no external-ID field, so the state store's links keep our key → ``CO…`` SID (never a title
match); create intents guard against duplicates after a crash. ``matchStrings`` go out
comma-separated and come back as a list; dates are UTC ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import Page, Raw
from offering_sync.connectors.http.auth import HeaderToken
from offering_sync.connectors.http.check import source_check
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.paging import offset_pages
from offering_sync.connectors.http.per_record import PerRecordTarget, pages_by_id
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import (
    ConnectionSettings,
    HttpConnector,
    HttpUrl,
    make_caller,
)
from offering_sync.errors import ConfigError, Rejected
from offering_sync.plugin import ApiCall, Check, SystemSpec

__all__ = ["PAYLOAD_FIELDS", "RECORD_FIELDS", "SYSTEM", "SmarterProctoringSettings",
           "SmarterProctoringSource", "SmarterProctoringTarget"]

RECORD_FIELDS = frozenset({"sid", "lastActivityDate", "title", "matchStrings", "startDate",
                           "endDate", "createdDate", "editDate"})
PAYLOAD_FIELDS = frozenset({"title", "matchStrings", "startDate", "endDate"})
INSTALL_SID = re.compile(r"^AI[a-f0-9]{32}$")
LIST = ApiCall("GET", "v1/installs/{install}/courseOfferings", doc="openapi.json @ c04b69a",
               note="offset, limit")
CREATE = ApiCall("POST", "v1/installs/{install}/courseOfferings", doc="openapi.json @ c04b69a")
GET = ApiCall("GET", "v1/installs/{install}/courseOfferings/{sid}", doc="openapi.json @ c04b69a")
UPDATE = ApiCall("PUT", "v1/installs/{install}/courseOfferings/{sid}",
                 doc="update-course-offering (seed 002)", note="full replacement")
DELETE = ApiCall("DELETE", "v1/installs/{install}/courseOfferings/{sid}",
                 doc="openapi.json @ c04b69a", note="only with the delete policy")


class SmarterProctoringSettings(ConnectionSettings):
    """``OFFERING_SYNC_SMARTERPROCTORING_*``: host, install SID and token."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_SMARTERPROCTORING_",
                                      env_file=".env", extra="ignore")

    base_url: HttpUrl = "https://api.smarterproctoring.com"
    token: SecretStr | None = Field(default=None, description="JWT from your account manager "
                                    "(sent in the token header); required")
    install_sid: str | None = Field(default=None, description="your install's SID (part of "
                                    "every API path); required")
    page_size: int = Field(default=100, ge=1, le=100, description="offerings per list call")
    # SmarterProctoring documents no rate or concurrency limit (seed-apis.md §3.4 [GAP]): 4
    # is our reading, the bounded concurrency anchors.md suggests by default.
    concurrency: int = Field(default=4, ge=1, le=32, description="list pages read at once, "
                             "and records written at once (one call per record); no "
                             "documented limit: 4 is our choice")

    @field_validator("install_sid")
    @classmethod
    def _sid(cls, value: str | None) -> str | None:
        if value is not None and not INSTALL_SID.match(value):
            raise ValueError("install SID must be AI followed by 32 lowercase hex characters")
        return value


def _caller(settings: SmarterProctoringSettings, system: str,
            retry: RetryPolicy | None) -> HttpCaller:
    if settings.token is None:
        raise ConfigError("OFFERING_SYNC_SMARTERPROCTORING_TOKEN is not set: ask your "
                          "SmarterProctoring account manager for an API token")
    if not settings.install_sid:
        raise ConfigError("OFFERING_SYNC_SMARTERPROCTORING_INSTALL_SID is not set (AI + 32 hex)")
    return make_caller(settings, system, HeaderToken(settings.token, header="token", scheme=None),
                       retry)


class SmarterProctoringSource(HttpConnector[SmarterProctoringSettings]):
    """Streams the install's offerings (no modified filter: full scans, diffed by hash)."""

    system = "smarterproctoring"
    id_field = "sid"
    supports_modified_since = False
    settings_class = SmarterProctoringSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: SmarterProctoringSettings) -> None:
        super().__init__(http, settings)
        self.path = LIST.url(install=settings.install_sid)


    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages by ``offset``/``limit`` until the listing says it is done.

        The end is ``next`` null; where ``next`` is absent, ``offset`` reaching ``total``;
        where both are absent (or the body is a bare array), a page that comes back empty.
        The envelope is documented for the other lists, not this one (seed-apis.md §3.3).

        Raises:
            ConnectorError: a list call failed after retries.
            Rejected: the body is not a listing, or paging did not advance.
        """
        limit = self.settings.page_size

        def fetch(offset: int) -> tuple[Page | None, int | None]:
            params: dict[str, Any] = {"limit": limit}
            if offset:  # "For 1st query should pass as empty" (list-enrollment-exam-sessions)
                params["offset"] = offset
            body = self.http.json(self.http.send("GET", self.path, idempotent=True,
                                                 params=params))
            items = _results(body, self.system)
            records = [i for i in items if isinstance(i, dict)]
            bad = [(None, "offering is not a JSON object", repr(i)[:2000])
                   for i in items if not isinstance(i, dict)]
            total = body.get("total") if isinstance(body, dict) else None  # for progress only
            following = _following(body, offset, len(items))
            if following is not None and following <= offset:
                raise Rejected(f"paging did not advance past offset {offset}",
                               system=self.system)
            return Page(records, checkpoint=str(offset + len(items)), bad=bad,
                        total=total if isinstance(total, int) and total >= 0 else None), following

        # Up to CONCURRENCY pages in flight, handed out in order (issue 17).
        yield from offset_pages(fetch, int(resume) if resume else 0, limit,
                                self.settings.concurrency)

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Re-read offerings by SID (GET one is documented in openapi.json @ c04b69a)."""
        target = SmarterProctoringTarget(self.http, self.settings)
        return iter(pages_by_id(ids, lambda sid: target.fetch(sid, sid)))



class SmarterProctoringTarget(PerRecordTarget[SmarterProctoringSettings]):
    """POST to create, PUT to replace; one call per record with bounded concurrency.

    Offerings have no external-ID field (documented), so the link table is the identity: an
    offering is never matched by its title (two same-title offerings of one course are normal,
    and hand-made ones must never be taken over). After a crash, only an unlinked offering that
    matches a recorded create intent exactly (title and dates, created after the intent), and
    alone, is adopted. PUT replaces the whole offering (documented), so an update reads it first
    and keeps the match strings an administrator added (``on_update: merge``).
    """

    system = "smarterproctoring"
    settings_class = SmarterProctoringSettings
    caller_factory = staticmethod(_caller)
    identity_fields = ("title", "startDate", "endDate")
    retire_modes = ("delete",)

    def list_all(self) -> Iterator[Raw]:
        """Every offering of the install."""
        for page in SmarterProctoringSource(self.http, self.settings).pages():
            yield from page.records

    def fetch(self, target_id: str, key: str) -> Raw | None:
        """GET one offering (openapi.json @ c04b69a)."""
        try:
            response = self.http.send(GET.method, GET.url(install=self.settings.install_sid,
                                                          sid=target_id),
                                      idempotent=True, record=key)
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise
        body = self.http.json(response, key)
        return body if isinstance(body, dict) else None

    def create(self, body: Raw, key: str) -> Raw:
        """POST a new offering; the answer carries its ``sid`` (our reading of the answer)."""
        response = self.http.send(CREATE.method, CREATE.url(install=self.settings.install_sid),
                                  idempotent=False, record=key, json=_wire(body))
        made = self.http.json(response, key)
        if not isinstance(made, dict) or not made.get("sid"):
            raise Rejected("the create answer carries no sid", system=self.system,
                           status=response.status_code, record=key)
        return made

    def replace(self, target_id: str, body: Raw, current: Raw, key: str) -> Raw:
        """PUT the whole offering (documented: a full replacement)."""
        response = self.http.send(UPDATE.method, UPDATE.url(install=self.settings.install_sid,
                                                            sid=target_id),
                                  idempotent=True, record=key, json=_wire(body))
        answer = self.http.json(response, key) if response.content else {}
        return answer if isinstance(answer, dict) else {}

    def delete(self, target_id: str, key: str) -> None:
        """DELETE one offering (openapi.json @ c04b69a)."""
        self.http.send(DELETE.method, DELETE.url(install=self.settings.install_sid,
                                                 sid=target_id), idempotent=True, record=key)

    def record_id(self, record: Raw) -> str:
        """The offering's ``CO…`` SID."""
        return str(record["sid"])

    def version(self, record: Raw) -> str | None:
        """``editDate``: the documented last-modified date."""
        value = record.get("editDate")
        return None if value is None else str(value)

    def created_at(self, record: Raw) -> datetime | None:
        """``createdDate``."""
        return _instant(record.get("createdDate"))

    def editable(self, record: Raw) -> dict[str, Any]:
        """What a PUT carries, with match strings as a list (they come back as one)."""
        strings = record.get("matchStrings")
        if isinstance(strings, str):
            strings = [s.strip() for s in strings.split(",") if s.strip()]
        return {"title": record.get("title"), "matchStrings": list(strings or []),
                "startDate": record.get("startDate"), "endDate": record.get("endDate")}

    def create_body(self, payload: Raw) -> dict[str, Any]:
        """Our payload as sent: only the documented fields."""
        return {k: payload[k] for k in PAYLOAD_FIELDS if k in payload}

    def same_identity(self, record: Raw, fingerprint: Mapping[str, Any]) -> bool:
        """Same title and the same instants (whatever the date format)."""
        return record.get("title") == fingerprint.get("title") and all(
            _instant(record.get(k)) == _instant(fingerprint.get(k)) for k in ("startDate",
                                                                             "endDate"))


def _wire(body: Raw) -> dict[str, Any]:
    """Match strings go out as one comma-separated string (documented)."""
    out = dict(body)
    strings = out.get("matchStrings")
    if isinstance(strings, list | tuple):
        out["matchStrings"] = ",".join(str(s) for s in strings)
    return out


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _results(body: Any, system: str) -> list[Any]:
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        results = body.get("results")
        return results if isinstance(results, list) else []
    raise Rejected("the course-offering listing is neither an object nor an array",
                   system=system)


def _following(body: Any, offset: int, count: int) -> int | None:
    """The next page's offset, or None when the listing is done (see ``pages``)."""
    if not count:
        return None
    advanced = offset + count
    if isinstance(body, dict) and "next" in body:
        link = body["next"]
        if not link:
            return None
        values = parse_qs(urlsplit(str(link)).query).get("offset")
        return int(values[0]) if values and values[0].isdigit() else advanced
    total = body.get("total") if isinstance(body, dict) else None
    if isinstance(total, int) and not isinstance(total, bool):
        return advanced if advanced < total else None
    return advanced


def check() -> list[Check]:
    """``offering-sync check smarterproctoring``: settings, token, page 1 of offerings; no write."""
    return source_check("smarterproctoring", "OFFERING_SYNC_SMARTERPROCTORING_",
                        SmarterProctoringSource.from_settings,
                        SmarterProctoringSource.settings_class)


SYSTEM = SystemSpec(
    slug="smarterproctoring", title="SmarterProctoring",
    settings_class=SmarterProctoringSettings, make_source=SmarterProctoringSource.from_settings,
    make_target=SmarterProctoringTarget.from_settings, mappings_dir=MAPPINGS_DIR,
    record_fields=RECORD_FIELDS, payload_fields=PAYLOAD_FIELDS,
    api_calls=(LIST, CREATE, GET, UPDATE, DELETE), secrets=("token",),
    check=check,
    retire={"delete": "`DELETE …/courseOfferings/{offeringSid}` (documented), re-created when "
                      "it returns"})
