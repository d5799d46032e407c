"""Rhythm Certifications API (v1-2025-04-18): course offerings source and target.

Docs: docs.api.rhythmsoftware.com (getcourseoffering, Course-Offerings tag, tutorials). Auth0
client credentials for audience ``https://api.rhythmsoftware.com`` (tokens last 24 h and a tenant
may mint 1,000 a month, so one token serves a whole run). Reads use only documented calls: the
listing (with ``fields`` narrowed) is read in full, since no modified-since filter is documented,
and incremental runs keep what changed by ``sys_last_modified_at``; creates let Rhythm generate
the id, carrying our key in
``sys_external_id``; updates PUT the full record with the ``sys_version`` just read, and read it
again once on a 409. A per-record API, driven with bounded concurrency.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import Page, Raw
from offering_sync.connectors.http.auth import HeaderToken, OAuth2ClientCredentials, SettingNames
from offering_sync.connectors.http.check import source_check
from offering_sync.connectors.http.client import HttpCaller
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
from offering_sync.settings import read_settings

__all__ = ["LIST_FIELDS", "PAYLOAD_FIELDS", "RECORD_FIELDS", "SYSTEM", "RhythmSettings",
           "RhythmSource", "RhythmTarget", "mapping_settings"]

AUDIENCE = "https://api.rhythmsoftware.com"
TOKEN = ApiCall("POST", "{auth_url}", doc="tutorials/authentication",
                note="Auth0 client credentials, audience api.rhythmsoftware.com")
LIST = ApiCall("GET", "courseOfferings/{tenant}", doc="seed-apis.md §2.3", basis="reading",
               note="fields, exclusiveStartKey; read in full: no modified filter is documented")
CREATE = ApiCall("POST", "courseOfferings/{tenant}", doc="openapi Course-Offerings tag")
GET = ApiCall("GET", "courseOfferings/{tenant}/{id}", doc="getcourseoffering (seed 001)",
              note="fields, consistentRead")
UPDATE = ApiCall("PUT", "courseOfferings/{tenant}/{id}", doc="seed-apis.md §2.3",
                 basis="reading", note="full record with sys_version")
DELETE = ApiCall("DELETE", "courseOfferings/{tenant}/{id}", doc="seed-apis.md §2.3",
                 basis="reading", note="only with the delete policy")
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
LIST_FIELDS = ("id", "name", "description", "short_description", "course_id", "type",
               "start_date", "end_date", "timezone", "capacity_options", "training_location_id",
               "instructor_id", "additional_instructor_ids", "address", "custom_field_values",
               "publish_to_portal", "sys_external_id", "sys_created_at", "sys_last_modified_at",
               "sys_version")
"""What the listing asks for (``fields``): what rhythm_to_canonical.yaml reads, plus the version
and modification time a run needs to skip unchanged records (a test keeps the two in step)."""
_NOT_IN_A_TENANT = re.compile(r"[/?#%\\\s\x00-\x1f\x7f]")
PAYLOAD_FIELDS = RECORD_FIELDS - {"id", "sys_created_at", "sys_last_modified_at", "sys_version",
                                  "sys_locked"}


class RhythmSettings(ConnectionSettings):
    """``OFFERING_SYNC_RHYTHM_*``: API host, tenant, Auth0 client, defaults Rhythm requires."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_RHYTHM_", env_file=".env",
                                      extra="ignore")

    base_url: HttpUrl = "https://certifications.api.rhythmsoftware.com"
    tenant_id: str | None = Field(default=None, description="your tenant id (part of every "
                                  "API path); required")
    auth_url: HttpUrl | None = Field(default=None, description="the Auth0 token URL, "
                                  "https://<auth0-domain>/oauth/token")
    client_id: str | None = Field(default=None, description="Auth0 machine-to-machine client "
                                  "id (with AUTH_URL and CLIENT_SECRET)")
    client_secret: SecretStr | None = Field(default=None, description="Auth0 client secret")
    token: SecretStr | None = Field(default=None, description="a bearer token to use instead "
                                    "of the Auth0 client")
    training_provider_id: str = Field(default="default-provider",
                                      description="Rhythm requires one on every offering")
    # Rhythm documents 429 "based on tenant limits" without numbers (seed-apis.md §2.6 [GAP]):
    # 4 is our reading. Its listing is cursor-paged, so reads overlap with the work instead.
    concurrency: int = Field(default=4, ge=1, le=32, description="records written at once "
                             "(one call per record); no documented limit: 4 is our choice")
    webinar_account_id: str | None = Field(
        default=None, description="Zoom account for offerings the mapping marks as webinars")

    @field_validator("tenant_id")
    @classmethod
    def _one_segment(cls, value: str | None) -> str | None:
        # Every call puts it in the path (encoded as one segment all the same): a value that
        # could only be a typo or a path of its own is refused here, naming the variable.
        if value is not None and (value in (".", "..") or _NOT_IN_A_TENANT.search(value)):
            raise ValueError("a tenant id is one URL path segment: not . or .., and no / \\ "
                             "? # %, spaces or control characters")
        return value


def mapping_settings(settings: RhythmSettings | None = None) -> dict[str, Any]:
    """Values the Rhythm mappings read with ``setting:``."""
    settings = settings or read_settings(RhythmSettings)
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
    """Streams a tenant's course offerings from the listing.

    The listing is the only documented way to read them all; incremental runs filter on
    ``sys_last_modified_at`` after reading.
    """

    system = "rhythm"
    id_field = "id"
    supports_modified_since = True
    settings_class = RhythmSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: RhythmSettings) -> None:
        super().__init__(http, settings)
        self.fields = ",".join(LIST_FIELDS)

    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages of offerings modified within ``[since, until]``; ``resume`` is a checkpoint.

        No modified-since filter is documented (seed-apis.md §2.4), so the listing is read in
        full and filtered here; each record keeps ``sys_version`` and ``sys_last_modified_at``
        so unchanged ones can be skipped before mapping. The continuation key goes back exactly
        as the server gave it: a string as is, an object JSON-encoded (compact, key order kept).

        Raises:
            ConnectorError: a list call failed after retries.
            Rejected: the listing's body or paging is not one we can follow.
        """
        path = LIST.url(tenant=self.settings.tenant_id)
        start = resume
        while True:
            params = {"fields": self.fields}
            if start is not None:
                params["exclusiveStartKey"] = start
            body = self.http.json(self.http.send(LIST.method, path, idempotent=True,
                                                 params=params))
            items, key = _read_listing(body, self.system)
            records = [i for i in items if isinstance(i, dict) and _modified_within(i, since,
                                                                                      until)]
            bad = [(None, "offering is not a JSON object", repr(i)[:2000])
                   for i in items if not isinstance(i, dict)]
            following = _encode_key(key)
            yield Page(records, checkpoint=following, bad=bad)
            if following is None:
                return
            if following == start:
                raise Rejected(f"paging did not advance past {start[:200]}", system=self.system)
            start = following

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Re-read offerings by id: the documented GET with the listing's ``fields`` (seed 001)."""
        return iter(pages_by_id(ids, self._read_one))

    def _read_one(self, offering_id: str) -> Raw | None:
        try:
            response = self.http.send(GET.method, GET.url(tenant=self.settings.tenant_id,
                                                          id=offering_id),
                                      idempotent=True, record=offering_id,
                                      params={"fields": self.fields})
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise
        body = self.http.json(response, offering_id)
        return body if isinstance(body, dict) else None



class RhythmTarget(PerRecordTarget[RhythmSettings]):
    """Creates and updates offerings one call per record, at most ``concurrency`` at once.

    Create: POST without an id (documented: Rhythm generates it), our key in
    ``sys_external_id``. Update (our reading: PUT replaces the record, checked against
    ``sys_version``): read the record with ``consistentRead``, overlay the fields the mapping
    owns, PUT it back with the version read, so what people set in Rhythm (publish_to_portal,
    fee, credits, eligibility rules, webinar settings) survives. ``sys_external_id`` is ours
    alone, so an unlinked record carrying our key is adopted, never duplicated.
    """

    system = "rhythm"
    settings_class = RhythmSettings
    caller_factory = staticmethod(_caller)
    identity_fields = ("sys_external_id",)
    adopt_without_intent = True
    retire_modes = ("deactivate", "delete")

    def list_all(self) -> Iterator[Raw]:
        """The tenant's offerings with just what identity needs."""
        source = RhythmSource(self.http, self.settings)
        source.fields = "id,sys_external_id,sys_created_at"
        for page in source.pages():
            yield from page.records

    def fetch(self, target_id: str, key: str) -> Raw | None:
        """GET one offering, consistently (documented: getcourseoffering, seed 001)."""
        try:
            response = self.http.send(GET.method, GET.url(tenant=self.settings.tenant_id,
                                                          id=target_id),
                                      idempotent=True, record=key,
                                      params={"consistentRead": "true"})
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise
        body = self.http.json(response, key)
        return body if isinstance(body, dict) else None

    def create(self, body: Raw, key: str) -> Raw:
        """POST a new offering; the answer carries the id Rhythm generated."""
        response = self.http.send(CREATE.method, CREATE.url(tenant=self.settings.tenant_id),
                                  idempotent=False, record=key, json=dict(body))
        made = self.http.json(response, key)
        if not isinstance(made, dict) or not made.get("id"):
            raise Rejected("the create answer carries no id", system=self.system,
                           status=response.status_code, record=key)
        return made

    def replace(self, target_id: str, body: Raw, current: Raw, key: str) -> Raw:
        """PUT the whole record with the ``sys_version`` read (409 when someone wrote since)."""
        response = self.http.send(UPDATE.method, UPDATE.url(tenant=self.settings.tenant_id,
                                                            id=target_id),
                                  idempotent=True, record=key,
                                  json={**body, "id": target_id,
                                        "sys_version": current.get("sys_version")})
        answer = self.http.json(response, key) if response.content else {}
        return answer if isinstance(answer, dict) else {}

    def delete(self, target_id: str, key: str) -> None:
        """DELETE one offering (our reading: the docs list no delete for offerings)."""
        self.http.send(DELETE.method, DELETE.url(tenant=self.settings.tenant_id, id=target_id),
                       idempotent=True, record=key)

    def record_id(self, record: Raw) -> str:
        """Rhythm's own id."""
        return str(record["id"])

    def version(self, record: Raw) -> str | None:
        """``sys_version``: bumped by every write."""
        value = record.get("sys_version")
        return None if value is None else str(value)

    def created_at(self, record: Raw) -> datetime | None:
        """``sys_created_at``."""
        return _instant(record.get("sys_created_at"))

    def editable(self, record: Raw) -> dict[str, Any]:
        """The record without the fields Rhythm computes itself."""
        return {k: v for k, v in record.items() if k not in _COMPUTED}

    def create_body(self, payload: Raw) -> dict[str, Any]:
        """Our payload without an id; webinar options where the mapping asks for a webinar."""
        body = {k: v for k, v in payload.items() if k != "id"}
        if body.get("enable_webinar_integration") and "webinar_integration_options" not in body:
            body["webinar_integration_options"] = {
                "webinar_service": "integrations-zoom-accounts",
                "webinar_account_id": self.settings.webinar_account_id}
        return body

    def same_identity(self, record: Raw, fingerprint: Mapping[str, Any]) -> bool:
        """Our key in ``sys_external_id``: written by us alone."""
        return bool(record.get("sys_external_id")) and \
            record.get("sys_external_id") == fingerprint.get("sys_external_id")

    def deactivated(self, body: dict[str, Any]) -> dict[str, Any]:
        """Unpublished: no longer sold in the portal (the record and its history stay)."""
        return {**body, "publish_to_portal": False}

    def revived(self, body: dict[str, Any]) -> dict[str, Any]:
        """Published again: it is back in the source."""
        return {**body, "publish_to_portal": True}


# Fields Rhythm sets itself (seed 001: sys_* audit fields, computed timezone data); a PUT never
# sends them back, except sys_version (the optimistic-concurrency check) and our key.
_COMPUTED = frozenset({
    "sys_created_at", "sys_created_by_id", "sys_last_modified_at", "sys_last_modified_by_id",
    "sys_bulk_load_at", "sys_bulk_load_id", "sys_bulk_load_pk", "sys_bulk_load_record_no",
    "sys_bulk_load_source_file", "sys_calculated_field_error", "sys_calculated_field_errors",
    "sys_configuration_snapshot_id", "sys_deleted_by_id", "sys_directive", "sys_has_files_in_s3",
    "sys_last_bulk_data_operation_id", "sys_last_bulk_data_operation_sys_version",
    "sys_last_security_context", "sys_locked", "sys_snapshot_base_version",
    "timezone_abbreviation", "timezone_offset", "instructor_names", "sys_version",
})


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _read_listing(body: Any, system: str) -> tuple[list[Any], Any]:
    """Items and continuation key from ``{Count, Items, LastEvaluatedKey}`` or a bare array.

    The envelope is documented for the sibling lists; the bare array is what some Rhythm
    lists answer (platform service-metadata; seed-apis.md §2.4) and carries no key.
    """
    if isinstance(body, list):
        return body, None
    if isinstance(body, dict):
        items = body.get("Items")
        return (items if isinstance(items, list) else []), body.get("LastEvaluatedKey")
    raise Rejected("the course-offering listing is neither an object nor an array",
                   system=system)


def _encode_key(key: Any) -> str | None:
    """``exclusiveStartKey`` for the next request: exactly what the server handed out."""
    if key is None or key == "":
        return None
    if isinstance(key, str):
        return key
    return json.dumps(key, separators=(",", ":"), ensure_ascii=False)


def _modified_within(record: Raw, since: datetime | None, until: datetime | None) -> bool:
    """Whether ``sys_last_modified_at`` lies in ``[since, until]``; unknown times are kept."""
    if since is None and until is None:
        return True
    value = record.get("sys_last_modified_at")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return True  # no readable time: let the mapping decide rather than drop it
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    since, until = _aware(since), _aware(until)
    return (since is None or moment >= since) and (until is None or moment <= until)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


def check() -> list[Check]:
    """``offering-sync check rhythm``: settings, token, page 1 of offerings; no write."""
    return source_check("rhythm", "OFFERING_SYNC_RHYTHM_",
                        RhythmSource.from_settings, RhythmSource.settings_class)


SYSTEM = SystemSpec(
    slug="rhythm", title="Rhythm (Certifications API)", settings_class=RhythmSettings,
    make_source=RhythmSource.from_settings, make_target=RhythmTarget.from_settings,
    mapping_settings=mapping_settings, mappings_dir=MAPPINGS_DIR, record_fields=RECORD_FIELDS,
    payload_fields=PAYLOAD_FIELDS, api_calls=(TOKEN, LIST, CREATE, GET, UPDATE, DELETE),
    secrets=("client_id", "client_secret", "token"), check=check,
    retire={"deactivate": "`publish_to_portal` set to false (no longer sold; the offering and "
                          "its history stay), true again when it returns",
            "delete": "`DELETE /courseOfferings/{tenant}/{id}` (our reading), re-created when "
                      "it returns"})
