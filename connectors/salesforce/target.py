"""Salesforce Education Cloud: bulk course-offering target (Connect REST).

Docs: edu_cloud_dev_guide connect_resources_course_offering (POST, v64.0+),
connect_requests_course_offering_inpu, connect_responses_course_offering_output; OAuth from the
Connect REST quick start. One POST carries a JSON array of ``{courseOffering: {...}}``;
``overwrite=false`` for external IDs the org has never seen, ``true`` for known ones. The answer's
``details`` carry no external ID, so they are matched to inputs by position; the vendor's example
marks an item's outcome with ``status`` in one item and ``success`` in others, so both are read.
The daily quota is signalled by 403 ``REQUEST_LIMIT_EXCEEDED`` (not 429) and ``Sforce-Limit-Info``.

Edits made in the org since our last write are noticed by ``SystemModstamp`` ([C] a system field
of every sObject, set on each change by a user or an automated process; the REST query returns it
as ``2013-05-20T20:49:32.000+0000``). After each POST, one SOQL query by ``Id`` reads the new
stamps of the batch's records, which the engine remembers per link; before an update batch, one
query by ``Id`` reads the current stamps, and a record whose stamp moved is handled by the
pipeline's conflict policy (``offering_sync.ownership.on_conflict``). [I] Our reading: the POST's
answer carries no stamp, so the read-back follows the POST (an edit landing in between is taken
for ours); an update with ``overwrite=true`` changes only the fields it sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import httpx

from offering_sync.connectors.base import (
    Conflict,
    LoadResult,
    Raw,
    WritePolicy,
    WriteRequest,
)
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.settings import HttpConnector
from offering_sync.connectors.salesforce.connection import classify, make_salesforce_caller
from offering_sync.connectors.salesforce.query import query_pages, query_rows, soql_literal
from offering_sync.connectors.salesforce.settings import SalesforceSettings
from offering_sync.errors import ConfigError, QuotaExhausted, Rejected, TransientError
from offering_sync.ownership import for_update, on_conflict
from offering_sync.plugin import ApiCall

__all__ = ["COURSE_OFFERING_POST", "PAYLOAD_FIELDS", "SOBJECT_DELETE", "SalesforceTarget"]

PAYLOAD_FIELDS = frozenset("courseOffering." + key for key in (
    "academicSessionId", "courseOfferingName", "learningCourseId", "startDate",
    "courseOfferingCustomAttribute", "courseOfferingExternalId.fieldName",
    "courseOfferingExternalId.fieldValue", "courseOfferingId", "courseOfferingSchedule",
    "description", "endDate", "enrollmentCapacity", "isActive", "primaryFacultyId",
    "sectionNumber", "waitlistedCapacity"))

COURSE_OFFERING_POST = ApiCall(
    "POST", "services/data/v{version}/connect/education/academic-operations/course-offering",
    doc="edu_cloud_dev_guide connect_resources_course_offering (seed 000)",
    note="overwrite=false|true")
SOBJECT_DELETE = ApiCall("DELETE", "services/data/v{version}/sobjects/CourseOffering/{id}",
                         doc="api_rest resources_sobject_retrieve (DELETE)", basis="reading",
                         note="only with the delete policy")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_REQUIRED_READ = ("Id", "Name", "AcademicSessionId", "LearningCourseId", "StartDate")


class SalesforceTarget(HttpConnector[SalesforceSettings]):
    """Bulk-posts course offerings; one ``LoadResult`` per input, in input order."""

    system = "salesforce"
    settings_class = SalesforceSettings
    caller_factory = staticmethod(make_salesforce_caller)

    def __init__(self, http: HttpCaller, settings: SalesforceSettings) -> None:
        super().__init__(http, settings)
        self.max_batch = settings.batch_size
        self.batches_in_flight = settings.concurrency  # bulk POSTs at once (issue 17)
        self.api_usage: tuple[int, int] | None = None
        http.classify = classify

    def lookup_rows(self, sobject: str, fields: Sequence[str],
                    where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows of ``sobject`` for a mapping lookup: one SOQL query (``LookupResolver``)."""
        return query_rows(self.http, self.settings, sobject, fields, where)


    upsert_key = True
    retire_modes = ("deactivate", "delete")

    def upsert(self, batch: Sequence[WriteRequest], *, overwrite: bool,
               policy: WritePolicy) -> list[LoadResult]:
        """POST one batch; per-record failures come back as values, not exceptions.

        Retrying the POST is safe: every item carries its external ID, so a repeat either
        updates in place or comes back as a per-record "already exists" conflict. An update
        leaves out the fields the mapping keeps on create only (``on_update: keep``) and those
        that hold only the mapping's default (``WriteRequest.defaulted``); the fields it does
        not name are not sent, so the org keeps them. A record edited in the org since our last
        write follows ``policy.on_conflict`` (one SOQL query for the whole batch).

        Raises:
            ConnectorError: the whole request failed (after retries where safe).
        """
        if not overwrite:
            return self._post([dict(r.payload) for r in batch], overwrite)
        stamps = self._stamps(r.target_id for r in batch
                              if r.target_id and r.target_version is not None)
        results: list[LoadResult | None] = [None] * len(batch)
        items: list[Raw] = []
        sent: list[int] = []
        changed: set[int] = set()
        for index, request in enumerate(batch):
            now = stamps.get(_short(request.target_id)) if request.target_id else None
            if now is not None and request.target_version is not None \
                    and now != request.target_version:
                refused = on_conflict(request, str(request.target_id), now, policy, self.system)
                if refused is not None:
                    results[index] = refused
                    continue
                changed.add(index)  # source-wins: written, and counted as a conflict
            body = for_update(request.payload, policy.ownership, request.defaulted)
            if request.revive and isinstance(body.get("courseOffering"), dict):
                body["courseOffering"].setdefault("isActive", True)  # back in the source
            items.append(body)
            sent.append(index)
        for index, result in zip(sent, self._post(items, overwrite), strict=True):
            results[index] = replace(result, conflict="changed") \
                if index in changed and result.ok else result
        return [r for r in results if r is not None]

    def _stamps(self, ids: Iterable[str | None]) -> dict[str, str]:
        """``SystemModstamp`` by (15-character) Id: one SOQL query per 200 ids."""
        wanted = sorted({i for i in ids if i})
        found: dict[str, str] = {}
        for start in range(0, len(wanted), 200):
            values = ", ".join(soql_literal(i) for i in wanted[start:start + 200])
            query = ("SELECT Id, SystemModstamp FROM CourseOffering "  # noqa: S608 - typed
                     f"WHERE Id IN ({values})")
            for records, _ in query_pages(self.http, self.settings, query):
                for row in records:
                    if row.get("Id") and row.get("SystemModstamp") is not None:
                        found[_short(str(row["Id"]))] = str(row["SystemModstamp"])
        return found

    def _post(self, batch: Sequence[Raw], overwrite: bool) -> list[LoadResult]:
        results = self._post_only(batch, overwrite)
        try:  # remember each record's stamp after our write, for the next conflict check
            stamps = self._stamps(r.target_id for r in results)
        except (Rejected, TransientError, QuotaExhausted):
            stamps = {}  # written all the same; without a stamp the next update is not checked
        return [replace(r, target_version=stamps.get(_short(r.target_id)))
                if r.target_id else r for r in results]

    def _post_only(self, batch: Sequence[Raw], overwrite: bool) -> list[LoadResult]:
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
            values = ", ".join(soql_literal(k) for k in ordered[start:start + 200])
            query = (f"SELECT {', '.join((*fields, name))} FROM CourseOffering "  # noqa: S608
                     f"WHERE {name} IN ({values})")
            for records, _ in query_pages(self.http, self.settings, query):
                for row in records:
                    if row.get(name) is not None:
                        found[str(row[name])] = row
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


def _short(record_id: str | None) -> str:
    """An Id's 15-character form, so either form we hold matches the query's.

    [C] API guide, "Field Types: ID": the 18-character form only adds a case checksum.
    """
    return (record_id or "")[:15]


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
