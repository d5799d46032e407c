"""Rhythm Certifications API (v1-2025-04-18): course offerings source and target.

Docs: docs.api.rhythmsoftware.com (getcourseoffering, Course-Offerings tag, tutorials). Auth0
client credentials for audience ``https://api.rhythmsoftware.com`` (tokens last 24 h and a tenant
may mint 1,000 a month, so one token serves a whole run). Incremental reads search on
``sys_last_modified_at``; creates let Rhythm generate the id, carrying our key in
``sys_external_id``; updates PUT the full record with the ``sys_version`` just read, and read it
again once on a 409. A per-record API, driven with bounded concurrency.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import LoadResult, Page, Raw
from offering_sync.connectors.http.auth import HeaderToken, OAuth2ClientCredentials, SettingNames
from offering_sync.connectors.http.check import source_check
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.per_record import load_each
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import ConnectionSettings, HttpConnector, make_caller
from offering_sync.errors import ConfigError, ConnectorError, Rejected
from offering_sync.plugin import ApiCall, Check, SystemSpec

__all__ = ["PAYLOAD_FIELDS", "RECORD_FIELDS", "SYSTEM", "RhythmSettings", "RhythmSource",
           "RhythmTarget", "mapping_settings"]

AUDIENCE = "https://api.rhythmsoftware.com"
TOKEN = ApiCall("POST", "{auth_url}", doc="tutorials/authentication",
                note="Auth0 client credentials, audience api.rhythmsoftware.com")
LIST = ApiCall("GET", "courseOfferings/{tenant}", doc="seed-apis.md §2.3", basis="reading",
               note="fields, exclusiveStartKey")
SEARCH = ApiCall("POST", "courseOfferings/{tenant}/search", doc="none", basis="reading",
                 note="sys_last_modified_at criteria")
CREATE = ApiCall("POST", "courseOfferings/{tenant}", doc="openapi Course-Offerings tag")
GET = ApiCall("GET", "courseOfferings/{tenant}/{id}", doc="getcourseoffering (seed 001)",
              note="fields, consistentRead")
UPDATE = ApiCall("PUT", "courseOfferings/{tenant}/{id}", doc="seed-apis.md §2.3",
                 basis="reading", note="full record with sys_version")
RECORD_FIELDS = frozenset({
    "id", "name", "course_id", "course_type_id", "type", "description", "short_description",
    "start_date", "end_date", "timezone", "timezone_mode", "timezone_offset",
    "timezone_abbreviation", "capacity_options", "enable_capacity", "address", "instructor_id",
    "instructor_names", "additional_instructor_ids", "training_location_id",
    "training_provider_id", "credits_to_assign", "custom_field_values", "eligibility_requirements",
    "webinar_integration_options", "meeting_url", "webinar_url", "publish_to_portal",
    "sell_from", "sell_until", "event_id", "fee_id", "program_ids", "sys_created_at",
    "sys_last_modified_at", "sys_version", "sys_external_id", "sys_locked",
})
PAYLOAD_FIELDS = RECORD_FIELDS - {"id", "sys_created_at", "sys_last_modified_at", "sys_version",
                                  "sys_locked"}


class RhythmSettings(ConnectionSettings):
    """``OFFERING_SYNC_RHYTHM_*``: API host, tenant, Auth0 client, defaults Rhythm requires."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_RHYTHM_", env_file=".env",
                                      extra="ignore")

    base_url: str = "https://certifications.api.rhythmsoftware.com"
    tenant_id: str | None = None
    auth_url: str | None = Field(default=None, description="https://<auth0-domain>/oauth/token")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token: SecretStr | None = None
    training_provider_id: str = Field(default="default-provider",
                                      description="Rhythm requires one on every offering")
    concurrency: int = Field(default=4, ge=1, le=32)


def mapping_settings(settings: RhythmSettings | None = None) -> dict[str, Any]:
    """Values the Rhythm mappings read with ``setting:``."""
    settings = settings or RhythmSettings()
    return {"rhythm.training_provider_id": settings.training_provider_id}


def _caller(settings: RhythmSettings, system: str, retry: RetryPolicy | None) -> HttpCaller:
    if not settings.tenant_id:
        raise ConfigError("OFFERING_SYNC_RHYTHM_TENANT_ID is not set: every Rhythm call names "
                          "the tenant")
    if settings.token is not None:
        auth: Any = HeaderToken(settings.token)
    elif settings.auth_url and settings.client_id and settings.client_secret is not None:
        auth = OAuth2ClientCredentials(settings.auth_url, settings.client_id,
                                       settings.client_secret, json_body=True,
                                       extra={"audience": AUDIENCE}, system="rhythm",
                                       names=SettingNames.for_system("rhythm", vendor="Auth0",
                                                                     url="AUTH_URL"))
    else:
        raise ConfigError("Rhythm credentials are missing: set OFFERING_SYNC_RHYTHM_TOKEN, or "
                          "OFFERING_SYNC_RHYTHM_AUTH_URL, _CLIENT_ID and _CLIENT_SECRET")
    return make_caller(settings, system, auth, retry)


class RhythmSource(HttpConnector[RhythmSettings]):
    """Streams a tenant's course offerings; incremental through search on last-modified."""

    system = "rhythm"
    id_field = "id"
    supports_modified_since = True
    settings_class = RhythmSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: RhythmSettings) -> None:
        super().__init__(http, settings)
        self.fields = ",".join(sorted(RECORD_FIELDS))


    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages of offerings; ``resume`` is the ``exclusiveStartKey`` a page's checkpoint gave.

        Raises:
            ConnectorError: a list or search call failed after retries.
        """
        path = f"courseOfferings/{self.settings.tenant_id}"
        criteria = _criteria(since, until)
        start = resume
        while True:
            params = {"fields": self.fields, **({"exclusiveStartKey": start} if start else {})}
            if criteria:
                response = self.http.send("POST", path + "/search", idempotent=True,
                                          params=params, json={"criteria": criteria})
            else:
                response = self.http.send("GET", path, idempotent=True, params=params)
            body = self.http.json(response)
            items = body.get("Items", []) if isinstance(body, dict) else body
            records = [i for i in items if isinstance(i, dict)]
            bad = [(None, "offering is not a JSON object", repr(i)[:2000])
                   for i in items if not isinstance(i, dict)]
            last = body.get("LastEvaluatedKey") if isinstance(body, dict) else None
            yield Page(records, checkpoint=last, bad=bad)
            if not last or last == start:
                return
            start = str(last)


class RhythmTarget(HttpConnector[RhythmSettings]):
    """Creates and updates offerings one call per record, at most ``concurrency`` at once."""

    system = "rhythm"
    max_batch = 100
    settings_class = RhythmSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: RhythmSettings) -> None:
        super().__init__(http, settings)
        self.path = f"courseOfferings/{settings.tenant_id}"
        self._by_external: dict[str, str] | None = None
        self._index_lock = threading.Lock()


    def upsert(self, batch: Sequence[Raw], *, overwrite: bool,
               target_ids: Sequence[str | None] | None = None) -> list[LoadResult]:
        """Create or update each record; unknown ids are found by ``sys_external_id`` first.

        Raises:
            ConnectorError: the service failed as a whole (after retries).
        """
        ids = list(target_ids or [None] * len(batch))
        return load_each(list(zip(batch, ids, strict=True)),
                         lambda pair: str(pair[0].get("sys_external_id")),
                         lambda pair: self._one(pair[0], pair[1]),
                         concurrency=self.settings.concurrency)

    def _one(self, payload: Raw, target_id: str | None) -> LoadResult:
        key = str(payload.get("sys_external_id"))
        index = self._external_index()
        known = target_id or index.get(key)
        if known is None:
            response = self.http.send("POST", self.path, idempotent=False, record=key,
                                      json={k: v for k, v in payload.items() if k != "id"})
            created = self.http.json(response, key)
            index[key] = str(created["id"])
            return LoadResult(key, ok=True, target_id=str(created["id"]))
        return self._update(key, known, payload)

    def _update(self, key: str, target_id: str, payload: Raw) -> LoadResult:
        for attempt in (1, 2):
            try:
                current = self.http.json(self.http.send(
                    "GET", f"{self.path}/{target_id}", idempotent=True, record=key,
                    params={"fields": "id,sys_version", "consistentRead": "true"}), key)
                self.http.send("PUT", f"{self.path}/{target_id}", idempotent=True, record=key,
                               json={**payload, "id": target_id,
                                     "sys_version": current.get("sys_version")})
                return LoadResult(key, ok=True, target_id=target_id)
            except Rejected as exc:
                if exc.status == 404:
                    return LoadResult(key, ok=False, conflict="missing",
                                      errors=((None, "not found in Rhythm"),))
                if exc.status != 409 or attempt == 2:
                    raise
        raise ConnectorError("unreachable", system=self.system)  # pragma: no cover

    def _external_index(self) -> dict[str, str]:
        """``sys_external_id`` → Rhythm id, read once per run.

        It guards against duplicates when an earlier run created records and died before
        recording them.
        """
        with self._index_lock:
            if self._by_external is None:
                index: dict[str, str] = {}
                source = RhythmSource(self.http, self.settings)
                source.fields = "id,sys_external_id"
                for page in source.pages():
                    for record in page.records:
                        if record.get("sys_external_id"):
                            index[str(record["sys_external_id"])] = str(record["id"])
                self._by_external = index
            return self._by_external


def _criteria(since: datetime | None, until: datetime | None) -> list[dict[str, str]]:
    criteria = []
    if since:
        criteria.append({"field": "sys_last_modified_at", "operator": "greater than or equal to",
                         "value": _iso(since)})
    if until:
        criteria.append({"field": "sys_last_modified_at", "operator": "less than or equal to",
                         "value": _iso(until)})
    return criteria


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def check() -> list[Check]:
    """``offering-sync check rhythm``: settings, token, page 1 of offerings; no write."""
    return source_check("rhythm", "OFFERING_SYNC_RHYTHM_",
                        RhythmSource.from_settings)


SYSTEM = SystemSpec(
    slug="rhythm", title="Rhythm (Certifications API)", settings_class=RhythmSettings,
    make_source=RhythmSource.from_settings, make_target=RhythmTarget.from_settings,
    mapping_settings=mapping_settings, mappings_dir=MAPPINGS_DIR, record_fields=RECORD_FIELDS,
    payload_fields=PAYLOAD_FIELDS, api_calls=(TOKEN, LIST, SEARCH, CREATE, GET, UPDATE),
    secrets=("client_id", "client_secret", "token"),
    check=check)
