"""SmarterProctoring: course offerings of one install, as source and target.

Docs: developers.smarterservices.com (update-course-offering, authentication) and the
``openapi.json`` of SmarterServices/Platform-Documenation. A JWT issued by the account manager
goes in a ``token`` header (no token endpoint: a 401 means re-provision, never retry). Offerings
have no external-ID field, so the state store keeps our key → ``CO…`` SID, and before a create the
install is searched once per run for an offering with the same title (a crash-safe guard against
duplicates). ``matchStrings`` go out comma-separated and come back as a list; dates are UTC ``Z``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import LoadResult, Page, Raw
from offering_sync.connectors.http.auth import HeaderToken
from offering_sync.connectors.http.check import source_check
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.per_record import load_each
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import ConnectionSettings, HttpConnector, make_caller
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
UPDATE = ApiCall("PUT", "v1/installs/{install}/courseOfferings/{sid}",
                 doc="update-course-offering (seed 002)", note="full replacement")
KEY_FIELD = "_key"  # our external ID rides along in the payload and is stripped before sending


class SmarterProctoringSettings(ConnectionSettings):
    """``OFFERING_SYNC_SMARTERPROCTORING_*``: host, install SID and token."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_SMARTERPROCTORING_",
                                      env_file=".env", extra="ignore")

    base_url: str = "https://api.smarterproctoring.com"
    token: SecretStr | None = None
    install_sid: str | None = None
    page_size: int = Field(default=100, ge=1, le=100)
    concurrency: int = Field(default=4, ge=1, le=32)

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
        self.path = f"v1/installs/{settings.install_sid}/courseOfferings"


    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages by ``offset``/``limit`` until ``next`` is null.

        Raises:
            ConnectorError: a list call failed after retries.
        """
        offset = int(resume) if resume else 0
        limit = self.settings.page_size
        while True:
            response = self.http.send("GET", self.path, idempotent=True,
                                      params={"offset": offset, "limit": limit})
            body = self.http.json(response)
            items = body.get("results") or [] if isinstance(body, dict) else []
            records = [i for i in items if isinstance(i, dict)]
            yield Page(records, checkpoint=str(offset + len(items)))
            if not isinstance(body, dict) or not body.get("next") or not items:
                return
            offset += len(items)


class SmarterProctoringTarget(HttpConnector[SmarterProctoringSettings]):
    """POST to create, PUT to replace; one call per record with bounded concurrency."""

    system = "smarterproctoring"
    max_batch = 100
    settings_class = SmarterProctoringSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: SmarterProctoringSettings) -> None:
        super().__init__(http, settings)
        self.path = f"v1/installs/{settings.install_sid}/courseOfferings"
        self._by_title: dict[str, str] | None = None
        self._lock = threading.Lock()


    def upsert(self, batch: Sequence[Raw], *, overwrite: bool,
               target_ids: Sequence[str | None] | None = None) -> list[LoadResult]:
        """Create or replace each offering.

        Raises:
            ConnectorError: the service failed as a whole (after retries).
        """
        ids = list(target_ids or [None] * len(batch))
        return load_each(list(zip(batch, ids, strict=True)), lambda pair: _key(pair[0]),
                         lambda pair: self._one(pair[0], pair[1]),
                         concurrency=self.settings.concurrency)

    def _one(self, payload: Raw, sid: str | None) -> LoadResult:
        key = _key(payload)
        body = {k: v for k, v in payload.items() if k != KEY_FIELD}
        index = self._titles()
        sid = sid or index.get(str(body.get("title")))
        if sid is None:
            created = self.http.json(self.http.send("POST", self.path, idempotent=False,
                                                    record=key, json=body), key)
            index[str(body.get("title"))] = str(created["sid"])
            return LoadResult(key, ok=True, target_id=str(created["sid"]))
        try:
            self.http.send("PUT", f"{self.path}/{sid}", idempotent=True, record=key, json=body)
        except Rejected as exc:
            if exc.status == 404:
                return LoadResult(key, ok=False, conflict="missing",
                                  errors=((None, "not found in SmarterProctoring"),))
            raise
        return LoadResult(key, ok=True, target_id=sid)

    def _titles(self) -> dict[str, str]:
        with self._lock:
            if self._by_title is None:
                index: dict[str, str] = {}
                for page in SmarterProctoringSource(self.http, self.settings).pages():
                    for record in page.records:
                        index.setdefault(str(record.get("title")), str(record.get("sid")))
                self._by_title = index
            return self._by_title


def _key(payload: Raw) -> str:
    value: Any = payload.get(KEY_FIELD)
    if not value:
        raise Rejected(f"a payload has no {KEY_FIELD}; the mapping must set it",
                       system="smarterproctoring")
    return str(value)


def check() -> list[Check]:
    """``offering-sync check smarterproctoring``: settings, token, page 1 of offerings; no write."""
    return source_check("smarterproctoring", "OFFERING_SYNC_SMARTERPROCTORING_",
                        SmarterProctoringSource.from_settings)


SYSTEM = SystemSpec(
    slug="smarterproctoring", title="SmarterProctoring",
    settings_class=SmarterProctoringSettings, make_source=SmarterProctoringSource.from_settings,
    make_target=SmarterProctoringTarget.from_settings, mappings_dir=MAPPINGS_DIR,
    record_fields=RECORD_FIELDS, payload_fields=PAYLOAD_FIELDS | {KEY_FIELD},
    api_calls=(LIST, CREATE, UPDATE), secrets=("token",),
    check=check)
