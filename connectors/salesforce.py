"""Salesforce Education Cloud: bulk course-offering target (Connect REST).

Docs: edu_cloud_dev_guide connect_resources_course_offering (POST, v64.0+),
connect_requests_course_offering_inpu, connect_responses_course_offering_output; OAuth from the
Connect REST quick start. One POST carries a JSON array of ``{courseOffering: {...}}``;
``overwrite=false`` for external IDs the org has never seen, ``true`` for known ones. The answer's
``details`` carry no external ID, so they are matched to inputs by position; the vendor's example
marks an item's outcome with ``status`` in one item and ``success`` in others, so both are read.
The daily quota is signalled by 403 ``REQUEST_LIMIT_EXCEEDED`` (not 429) and ``Sforce-Limit-Info``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import (
    Conflict,
    LoadResult,
    Page,
    Raw,
    WritePolicy,
    WriteRequest,
)
from offering_sync.connectors.http.auth import HeaderToken, OAuth2ClientCredentials
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import ConnectionSettings, HttpConnector, make_caller
from offering_sync.errors import ConfigError, ConnectorError, QuotaExhausted, Rejected
from offering_sync.ownership import for_update
from offering_sync.plugin import ApiCall, SystemSpec
from offering_sync.settings import read_settings

__all__ = ["PAYLOAD_FIELDS", "RECORD_FIELDS", "SYSTEM", "SalesforceSettings",
           "SalesforceSource", "SalesforceTarget", "mapping_settings"]

# CourseOffering sObject fields read by the source (Education Cloud object reference, v57.0+).
RECORD_FIELDS = frozenset({
    "Id", "Name", "AcademicSessionId", "LearningCourseId", "StartDate", "EndDate", "IsActive",
    "EnrollmentCapacity", "WaitlistCapacity", "SectionNumber", "PrimaryFacultyId",
    "Description", "SystemModstamp", "CreatedDate",
})
QUERY = ApiCall("GET", "services/data/v{version}/query",
                doc="api_rest resources-query, resources-query-more-results",
                note="q=SELECT … FROM CourseOffering, then nextRecordsUrl")

PAYLOAD_FIELDS = frozenset("courseOffering." + key for key in (
    "academicSessionId", "courseOfferingName", "learningCourseId", "startDate",
    "courseOfferingCustomAttribute", "courseOfferingExternalId.fieldName",
    "courseOfferingExternalId.fieldValue", "courseOfferingId", "courseOfferingSchedule",
    "description", "endDate", "enrollmentCapacity", "isActive", "primaryFacultyId",
    "sectionNumber", "waitlistedCapacity"))

# No maximum is published for this resource; 200 is the sObject Collections limit.
DEFAULT_BATCH = 200
COURSE_OFFERING_POST = ApiCall(
    "POST", "services/data/v{version}/connect/education/academic-operations/course-offering",
    doc="edu_cloud_dev_guide connect_resources_course_offering (seed 000)",
    note="overwrite=false|true")
SOBJECT_DELETE = ApiCall("DELETE", "services/data/v{version}/sobjects/CourseOffering/{id}",
                         doc="api_rest resources_sobject_retrieve (DELETE)", basis="reading",
                         note="only with the delete policy")
TOKEN = ApiCall("POST", "services/oauth2/token",
                doc="chatterapi quickstart_connecting", note="client credentials")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REQUIRED_READ = ("Id", "Name", "AcademicSessionId", "LearningCourseId", "StartDate")


class SalesforceSettings(ConnectionSettings):
    """``OFFERING_SYNC_SALESFORCE_*``: the org's instance URL and credentials."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_SALESFORCE_", env_file=".env",
                                      extra="ignore")

    base_url: str = Field(default="https://login.salesforce.com",
                          description="the org's instance URL, e.g. https://x.my.salesforce.com")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    token: SecretStr | None = None
    api_version: str = "66.0"
    external_id_field: str = "OfferingSyncExternalId__c"
    batch_size: int = Field(default=DEFAULT_BATCH, ge=1, le=10_000)
    timeout: float = 60.0
    quota_stop_ratio: float = Field(default=0.95, gt=0, le=1,
                                    description="stop cleanly once api-usage passes this share")


def mapping_settings(settings: SalesforceSettings | None = None) -> dict[str, Any]:
    """Values the Salesforce mapping files may read with ``setting:``."""
    settings = settings or read_settings(SalesforceSettings)
    return {"salesforce.external_id_field": settings.external_id_field}


def _caller(settings: SalesforceSettings, system: str, retry: RetryPolicy | None) -> HttpCaller:
    caller = make_caller(settings, system, _auth(settings), retry)
    caller.classify = _classify
    return caller


class SalesforceTarget(HttpConnector[SalesforceSettings]):
    """Bulk-posts course offerings; one ``LoadResult`` per input, in input order."""

    system = "salesforce"
    settings_class = SalesforceSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: SalesforceSettings) -> None:
        super().__init__(http, settings)
        self.max_batch = settings.batch_size
        self.api_usage: tuple[int, int] | None = None
        http.classify = _classify


    upsert_key = True
    retire_modes = ("deactivate", "delete")

    def upsert(self, batch: Sequence[WriteRequest], *, overwrite: bool,
               policy: WritePolicy) -> list[LoadResult]:
        """POST one batch; per-record failures come back as values, not exceptions.

        Retrying the POST is safe: every item carries its external ID, so a repeat either
        updates in place or comes back as a per-record "already exists" conflict. An update
        leaves out the fields the mapping keeps on create only (``on_update: keep``); the
        fields it does not name are not sent, so the org keeps them.

        Raises:
            ConnectorError: the whole request failed (after retries where safe).
        """
        items = [for_update(r.payload, policy.ownership) if overwrite else dict(r.payload)
                 for r in batch]
        return self._post(items, overwrite)

    def _post(self, batch: Sequence[Raw], overwrite: bool) -> list[LoadResult]:
        if not batch:
            return []
        self._check_quota()
        keys = [_external_id(item) for item in batch]
        path = COURSE_OFFERING_POST.url(version=self.settings.api_version)
        response = self.http.send("POST", path, idempotent=True, json=list(batch),
                                  params={"overwrite": "true" if overwrite else "false"},
                                  record=keys[0] if len(keys) == 1 else None)
        self._note_usage(response)
        body = self.http.json(response)
        details = body.get("details") if isinstance(body, dict) else None
        if not isinstance(details, list) or len(details) != len(batch):
            got = len(details) if isinstance(details, list) else "no"
            raise Rejected(f"answer has {got} details for {len(batch)} offerings; cannot match "
                           "results to records", system=self.system,
                           status=response.status_code)
        return [_read_detail(key, detail, overwrite) for key, detail in zip(keys, details,
                                                                            strict=True)]

    def plan(self, batch: Sequence[WriteRequest]) -> list[LoadResult]:
        """Dry run: one SOQL query says which external ids the org already has."""
        existing = self._existing({r.key for r in batch}, fields=("Id",))
        return [LoadResult(r.key, ok=True, target_id=existing.get(r.key, {}).get("Id"),
                           action="would_update" if r.key in existing else "would_create")
                for r in batch]

    def retire(self, batch: Sequence[WriteRequest], *, how: str,
               policy: WritePolicy) -> list[LoadResult]:
        """Deactivate (``isActive=false`` through the same bulk POST) or delete by sObject id.

        The bulk POST requires the session, course, name and start date even on an update, so
        they are read back from the org first (one SOQL query per batch). Deleting uses the
        sObject REST delete (our reading: the course-offering resource has no delete).
        """
        if how == "delete":
            return [self._delete(r) for r in batch]
        current = self._existing({r.key for r in batch}, fields=_REQUIRED_READ)
        items, keys = [], []
        for request in batch:
            row = current.get(request.key)
            if row is None:
                continue
            keys.append(request.key)
            items.append({"courseOffering": {
                "courseOfferingExternalId": {"fieldName": self.settings.external_id_field,
                                             "fieldValue": request.key},
                "courseOfferingName": row.get("Name"),
                "academicSessionId": row.get("AcademicSessionId"),
                "learningCourseId": row.get("LearningCourseId"),
                "startDate": row.get("StartDate"), "isActive": False}})
        answers = dict(zip(keys, self._post(items, True), strict=True))
        return [_retired(answers.get(r.key), r.key, "deactivated") for r in batch]

    def _delete(self, request: WriteRequest) -> LoadResult:
        if not request.target_id:
            return LoadResult(request.key, ok=False, errors=((None, "no Salesforce id linked"),))
        path = SOBJECT_DELETE.url(version=self.settings.api_version, id=request.target_id)
        try:
            self.http.send("DELETE", path, idempotent=True, record=request.key)
        except Rejected as exc:
            if exc.status != 404:
                return LoadResult(request.key, ok=False, errors=((None, str(exc)),))
        return LoadResult(request.key, ok=True, target_id=request.target_id, action="deleted")

    def _existing(self, keys: set[str], *, fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Rows of CourseOffering whose external-ID field holds one of ``keys``."""
        name = self.settings.external_id_field
        if not _FIELD_NAME.match(name):
            raise ConfigError(f"OFFERING_SYNC_SALESFORCE_EXTERNAL_ID_FIELD {name!r} is not a "
                              "field name")
        found: dict[str, dict[str, Any]] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), 200):
            values = ", ".join(_soql_string(k) for k in ordered[start:start + 200])
            query = (f"SELECT {', '.join((*fields, name))} FROM CourseOffering "  # noqa: S608
                     f"WHERE {name} IN ({values})")
            url = QUERY.url(version=self.settings.api_version)
            params: dict[str, str] | None = {"q": query}
            while True:
                body = self.http.json(self.http.send("GET", url, idempotent=True,
                                                     params=params))
                for row in body.get("records", []) if isinstance(body, dict) else []:
                    if isinstance(row, dict) and row.get(name) is not None:
                        found[str(row[name])] = row
                following = body.get("nextRecordsUrl") if isinstance(body, dict) else None
                if not following or body.get("done", True):
                    break
                url, params = str(following).lstrip("/"), None
        return found

    def _note_usage(self, response: httpx.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))

    def _check_quota(self) -> None:
        if self.api_usage and self.api_usage[1]:
            used, limit = self.api_usage
            if used / limit >= self.settings.quota_stop_ratio:
                raise QuotaExhausted(
                    f"API usage {used}/{limit} passed the stop ratio "
                    f"{self.settings.quota_stop_ratio:.0%}; stopping before the org's quota "
                    "runs out", system=self.system)


class SalesforceSource(HttpConnector[SalesforceSettings]):
    """Reads CourseOffering through the REST query API, following ``nextRecordsUrl``.

    Incremental by ``SystemModstamp`` (ordered by it, then Id); the watermark is the newest
    ``SystemModstamp`` loaded, and a re-read of the boundary second is harmless (hash diff).
    """

    system = "salesforce"
    id_field = "Id"
    supports_modified_since = True
    settings_class = SalesforceSettings
    caller_factory = staticmethod(_caller)

    def __init__(self, http: HttpCaller, settings: SalesforceSettings) -> None:
        super().__init__(http, settings)
        http.classify = _classify


    def soql(self, since: datetime | None, until: datetime | None) -> str:
        """The query for one window of ``SystemModstamp``."""
        where = []
        if since:
            where.append(f"SystemModstamp >= {_soql_datetime(since)}")
        if until:
            where.append(f"SystemModstamp <= {_soql_datetime(until)}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        # Only constant field names and datetimes we formatted ourselves reach the query.
        return (f"SELECT {', '.join(sorted(RECORD_FIELDS))} FROM CourseOffering{clause} "  # noqa: S608
                "ORDER BY SystemModstamp, Id")

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Re-read records by Id: one SOQL query per 200 ids (values escaped, never pasted)."""
        for start in range(0, len(ids), 200):
            values = ", ".join(_soql_string(i) for i in ids[start:start + 200])
            query = (f"SELECT {', '.join(sorted(RECORD_FIELDS))} FROM CourseOffering "  # noqa: S608
                     f"WHERE Id IN ({values})")
            url = QUERY.url(version=self.settings.api_version)
            body = self.http.json(self.http.send("GET", url, idempotent=True, params={"q": query}))
            records = [r for r in body.get("records", []) if isinstance(r, dict)]
            if records:
                yield Page(records)

    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages of up to 2,000 records; ``resume`` is a ``nextRecordsUrl``.

        Raises:
            ConnectorError: a query call failed after retries.
        """
        if resume:
            url, params = resume.lstrip("/"), None
        else:
            url = QUERY.url(version=self.settings.api_version)
            params = {"q": self.soql(since, until)}
        while True:
            body = self.http.json(self.http.send("GET", url, idempotent=True, params=params))
            records = [r for r in body.get("records", []) if isinstance(r, dict)]
            following = body.get("nextRecordsUrl")
            yield Page(records, checkpoint=following)
            if body.get("done", True) or not following:
                return
            url, params = str(following).lstrip("/"), None


def _soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"


def _auth(settings: SalesforceSettings) -> httpx.Auth:
    if settings.token is not None:
        return HeaderToken(settings.token)
    if settings.client_id and settings.client_secret is not None:
        token_url = settings.base_url.rstrip("/") + "/" + TOKEN.path
        return OAuth2ClientCredentials(token_url, settings.client_id, settings.client_secret)
    raise ConfigError("Salesforce credentials are missing: set OFFERING_SYNC_SALESFORCE_TOKEN, or "
                      "OFFERING_SYNC_SALESFORCE_CLIENT_ID and OFFERING_SYNC_SALESFORCE_CLIENT_SECRET")


def _classify(response: httpx.Response, message: str) -> ConnectorError | None:
    if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in message:
        return QuotaExhausted("the org's API request limit is used up; the run stops and "
                              "resumes on the next schedule", system="salesforce",
                              status=403, vendor_message=message)
    return None


def _soql_string(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, never pasted raw."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def _retired(result: LoadResult | None, key: str, action: str) -> LoadResult:
    if result is None:  # not in the org any more: nothing to deactivate
        return LoadResult(key, ok=True, action=action)  # type: ignore[arg-type]
    if not result.ok:
        return result
    return LoadResult(key, ok=True, target_id=result.target_id,
                      action=action)  # type: ignore[arg-type]


def _external_id(item: Raw) -> str:
    try:
        return str(item["courseOffering"]["courseOfferingExternalId"]["fieldValue"])
    except (KeyError, TypeError):
        raise Rejected("a payload has no courseOffering.courseOfferingExternalId.fieldValue; "
                       "the mapping must set it", system="salesforce") from None


def _outcome(detail: dict[str, Any]) -> str:
    raw = detail.get("status", detail.get("success"))
    if raw is True:
        return "SUCCESS"
    if raw is False or raw is None:
        return "FAILURE"
    return str(raw).upper()


def _errors(detail: dict[str, Any]) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for err in detail.get("errors") or []:
        if isinstance(err, dict):
            found.append((err.get("field"), str(err.get("message", ""))))
    schedules = detail.get("courseSchedule", detail.get("courseSchedules")) or []
    for index, schedule in enumerate(schedules):
        if isinstance(schedule, dict) and schedule.get("success") is False:
            for err in schedule.get("errors") or []:
                if isinstance(err, dict):
                    field = err.get("field") or "courseSchedule"
                    found.append((f"{field}[{index}]", str(err.get("message", ""))))
    return found


def _conflict(errors: list[tuple[str | None, str]], overwrite: bool) -> Conflict | None:
    for field, message in errors:
        if not field or not field.endswith("courseOfferingExternalId"):
            continue
        text = message.lower()
        if not overwrite and ("duplicate" in text or "already exists" in text):
            return "exists"
        if overwrite and ("not found" in text or "does not exist" in text):
            return "missing"
    return None


def _read_detail(key: str, detail: Any, overwrite: bool) -> LoadResult:
    if not isinstance(detail, dict):
        return LoadResult(key, ok=False, errors=((None, "malformed result item"),))
    outcome = _outcome(detail)
    errors = _errors(detail)
    target_id = detail.get("courseOfferingId") or None
    if outcome == "SUCCESS" and not errors:
        return LoadResult(key, ok=True, target_id=target_id)
    if outcome == "SUCCESS":
        outcome = "PARTIAL_SUCCESS"
    if not errors:
        errors = [(None, f"Salesforce reported {outcome} without an error message")]
    return LoadResult(key, ok=False, target_id=target_id, errors=tuple(errors),
                      conflict=_conflict(errors, overwrite) if outcome == "FAILURE" else None)


SYSTEM = SystemSpec(
    slug="salesforce", title="Salesforce Education Cloud", settings_class=SalesforceSettings,
    make_source=SalesforceSource.from_settings, make_target=SalesforceTarget.from_settings,
    mapping_settings=mapping_settings, mappings_dir=MAPPINGS_DIR, record_fields=RECORD_FIELDS,
    payload_fields=PAYLOAD_FIELDS,
    api_calls=(TOKEN, COURSE_OFFERING_POST, QUERY, SOBJECT_DELETE),
    secrets=("client_id", "client_secret", "token"))
