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
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from offering_sync.connectors.base import Conflict, LoadResult, Raw
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.settings import HttpConnector
from offering_sync.connectors.salesforce.connection import classify, make_salesforce_caller
from offering_sync.connectors.salesforce.query import query_rows
from offering_sync.connectors.salesforce.settings import SalesforceSettings
from offering_sync.errors import QuotaExhausted, Rejected
from offering_sync.plugin import ApiCall

__all__ = ["COURSE_OFFERING_POST", "PAYLOAD_FIELDS", "SalesforceTarget"]

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
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceTarget(HttpConnector[SalesforceSettings]):
    """Bulk-posts course offerings; one ``LoadResult`` per input, in input order."""

    system = "salesforce"
    settings_class = SalesforceSettings
    caller_factory = staticmethod(make_salesforce_caller)

    def __init__(self, http: HttpCaller, settings: SalesforceSettings) -> None:
        super().__init__(http, settings)
        self.max_batch = settings.batch_size
        self.api_usage: tuple[int, int] | None = None
        http.classify = classify

    def lookup_rows(self, sobject: str, fields: Sequence[str],
                    where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Rows of ``sobject`` for a mapping lookup: one SOQL query (``LookupResolver``)."""
        return query_rows(self.http, self.settings, sobject, fields, where)


    def upsert(self, batch: Sequence[Raw], *, overwrite: bool,
               target_ids: Sequence[str | None] | None = None) -> list[LoadResult]:
        """POST one batch; per-record failures come back as values, not exceptions.

        Retrying the POST is safe: every item carries its external ID, so a repeat either
        updates in place or comes back as a per-record "already exists" conflict.

        Raises:
            ConnectorError: the whole request failed (after retries where safe).
        """
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
