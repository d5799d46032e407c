"""``POST …/connect/education/academic-operations/course-offering``: bulk create and update.

From the edu_cloud_dev_guide pages (Course Offering POST, Course Offering Input, Course Offering
Schedule Input, Course Offering output; seed 000). Whole-request errors are the REST array;
per-record outcomes sit in ``details`` by position, keyed ``status`` for SUCCESS and ``success``
otherwise, as in the vendor's example. Our readings where the docs are silent, each a setting:
the batch cap (200), what ``overwrite=true`` does with an unknown external ID (fail), and that an
update changes only the fields it sends (the others, and ``SystemModstamp``'s meaning, as an
sObject update has them).
A time of day that is no time (``25:00:00``) is a per-schedule error, never a crash.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from offering_sync.emulators.salesforce.common import (
    SalesforceError,
    Version,
    gate,
    limit_header,
    org_state,
)

__all__ = ["OFFERING_KEYS", "SCHEDULE_KEYS", "apply_offering", "modstamp", "router"]

CONNECT_MIN_VERSION = 64.0  # "Available version 64.0"
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:?\d\d)$")
_TIME = re.compile(r"^\d\d:\d\d:\d\d(\.\d{1,3})?Z?$")
_ID = r"^{prefix}[A-Za-z0-9]{{12}}([A-Za-z0-9]{{3}})?$"
OFFERING_KEYS = {
    "academicSessionId", "courseOfferingName", "learningCourseId", "startDate",
    "courseOfferingCustomAttribute", "courseOfferingExternalId", "courseOfferingId",
    "courseOfferingSchedule", "description", "endDate", "enrollmentCapacity", "isActive",
    "primaryFacultyId", "sectionNumber", "waitlistedCapacity",
}
SCHEDULE_KEYS = {
    "courseOfferingScheduleId", "startDate", "startTime", "courseOfferingScheduleCustomAttribute",
    "courseOfferingScheduleExternalId", "courseOfferingScheduleTemplate", "description",
    "endTime", "location", "recurrencePattern", "type",
}
SCHEDULE_TYPES = {"Class", "Lab", "Lecture", "Exam", "Seminar", "Tutorial"}
_OFFERING_KEYS, _SCHEDULE_KEYS = OFFERING_KEYS, SCHEDULE_KEYS

router = APIRouter()


def connect_session(request: Request, version: Version) -> str:
    """The API gate, with the resource's first version."""
    return gate(request, version, CONNECT_MIN_VERSION)


_PAIR = {"type": "object", "properties": {"fieldName": {"type": "string"},
                                          "fieldValue": {"type": "string"}}}
_BODY_SCHEMA: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "items": {
        "type": "object", "required": ["courseOffering"],
        "properties": {"courseOffering": {"type": "object", "properties": {
            "courseOfferingExternalId": _PAIR,
            "courseOfferingCustomAttribute": {"type": "array", "items": _PAIR},
            "courseOfferingName": {"type": "string"}, "academicSessionId": {"type": "string"},
            "learningCourseId": {"type": "string"}, "startDate": {"type": "string"},
            "endDate": {"type": "string"}, "isActive": {"type": ["boolean", "string"]},
            "enrollmentCapacity": {"type": "integer"}, "sectionNumber": {"type": "integer"},
            "courseOfferingSchedule": {"type": "array", "items": {"type": "object", "properties": {
                "startDate": {"type": "string"}, "startTime": {"type": "string"},
                "endTime": {"type": "string"}, "type": {"type": "string"},
                "recurrencePattern": {"type": "string"}}}},
        }}}}}}}}}


@router.post("/services/data/v{version}/connect/education/academic-operations/course-offering",
             openapi_extra=_BODY_SCHEMA)
async def course_offering(version: Version,
                          request: Request,
                          _session: Annotated[str, Depends(connect_session)],
                          overwrite: str = "false") -> JSONResponse:
    """Create (``overwrite=false``) or update (``true``) offerings by external ID."""
    state = org_state(request)
    overwrite = overwrite.lower()
    if overwrite not in ("true", "false"):
        raise SalesforceError(400, "INVALID_INPUT", "overwrite must be true or false")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR",
                              f"Unexpected character: {str(exc)[:100]}") from None
    problem = _shape_problem(body, state.settings["max_batch"])
    if problem:
        raise SalesforceError(400, *problem)
    state.in_flight += 1  # how many bulk POSTs overlap: callers' limits are tested on it
    state.max_in_flight = max(state.max_in_flight, state.in_flight)
    try:
        if state.settings["post_seconds"]:
            await asyncio.sleep(state.settings["post_seconds"])
    finally:
        state.in_flight -= 1
    state.posts += 1
    state.records_posted += len(body)
    with state.org.lock:
        details = [apply_offering(state, item["courseOffering"], overwrite == "true")
                   for item in body]
    counts = {s: sum(1 for d in details if _outcome(d) == s)
              for s in ("SUCCESS", "PARTIAL_SUCCESS", "FAILURE")}
    status = ("SUCCESS" if counts["SUCCESS"] == len(details) else
              "FAILURE" if counts["FAILURE"] == len(details) else "PARTIAL_SUCCESS")
    return JSONResponse({"successCount": counts["SUCCESS"],
                         "partialSuccessCount": counts["PARTIAL_SUCCESS"],
                         "failureCount": counts["FAILURE"], "status": status,
                         "details": details}, status_code=201, headers=limit_header(state))


def _shape_problem(body: Any, max_batch: int) -> tuple[str, str] | None:
    if not isinstance(body, list):
        return "JSON_PARSER_ERROR", "Expected a JSON array of course offering inputs"
    if not body:
        return "INVALID_INPUT", "At least one course offering is required"
    if len(body) > max_batch:
        return "INVALID_INPUT", f"You can't process more than {max_batch} course offerings"
    for index, item in enumerate(body):
        if not isinstance(item, dict) or not isinstance(item.get("courseOffering"), dict):
            return "JSON_PARSER_ERROR", f"Item {index} is not {{\"courseOffering\": {{...}}}}"
        unknown = set(item) - {"courseOffering"} | set(item["courseOffering"]) - OFFERING_KEYS
        if unknown:
            return "JSON_PARSER_ERROR", f"Unrecognized field \"{sorted(unknown)[0]}\""
        for key in ("courseOfferingSchedule", "courseOfferingCustomAttribute"):
            value = item["courseOffering"].get(key)
            if value is not None and not isinstance(value, list):
                return "JSON_PARSER_ERROR", f"{key}: expected an array"
        for schedule in item["courseOffering"].get("courseOfferingSchedule") or []:
            if not isinstance(schedule, dict):
                return "JSON_PARSER_ERROR", "courseOfferingSchedule items must be objects"
            extra = set(schedule) - SCHEDULE_KEYS
            if extra:
                return "JSON_PARSER_ERROR", f"Unrecognized field \"{sorted(extra)[0]}\""
            for key in ("courseOfferingScheduleCustomAttribute",):
                if schedule.get(key) is not None and not isinstance(schedule[key], list):
                    return "JSON_PARSER_ERROR", f"{key}: expected an array"
    return None


def apply_offering(state: Any, offering: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Validate and store one offering; returns its ``details`` item."""
    errors = _offering_errors(offering)
    faults = state.faults
    if not errors and faults.faults.reject_rate and faults._draw() < faults.faults.reject_rate:
        faults._count("reject")
        errors = [{"message": "unable to obtain exclusive access to this record", "field": None}]
    if errors:
        return _failure(errors)
    org = state.org
    ext = offering.get("courseOfferingExternalId") or {}
    ext_key = (str(ext.get("fieldName")), str(ext.get("fieldValue"))) if ext else None
    existing = org.by_external.get(ext_key) if ext_key else None
    if existing is None and offering.get("courseOfferingId"):
        existing = offering["courseOfferingId"] if offering["courseOfferingId"] in \
            org.offerings else None
    field = "courseOffering.courseOfferingExternalId"
    if not overwrite and existing is not None:
        return _failure([{"message": f"duplicate value found: {ext_key[1] if ext_key else ''} "
                          f"duplicates value on record with id: {existing}", "field": field}])
    if overwrite and existing is None and state.settings["upsert_missing"] != "create":
        return _failure([{"message": "No course offering found with this external ID: not found",
                          "field": field}])
    offering_id = existing or org.new_id("0xA")
    schedules, schedule_errors = _schedules(org, offering)
    stamp = modstamp()
    before = org.offerings.get(offering_id, {})
    created = before.get("CreatedDate", stamp)
    if "courseOfferingSchedule" not in offering and before:
        schedules = before.get("courseOfferingSchedule") or []
    # [I] An update changes the fields it sends and keeps the others (the docs say nothing; an
    # sObject update in Salesforce works field by field, and "updated in place" is our reading).
    org.offerings[offering_id] = {**before, **offering, "courseOfferingId": offering_id,
                                  "courseOfferingSchedule": schedules,
                                  "SystemModstamp": stamp, "CreatedDate": created}
    if ext_key:
        org.by_external[ext_key] = offering_id
    if schedule_errors:
        return {"success": "PARTIAL_SUCCESS", "courseOfferingId": offering_id, "errors": [],
                "courseSchedule": schedule_errors}
    return {"status": "SUCCESS", "errors": [], "courseOfferingId": offering_id,
            "courseSchedule": [{"success": True, "courseOfferingScheduleId": s["id"],
                                "errors": []} for s in schedules]}


def modstamp() -> str:
    """Now, as Salesforce writes ``SystemModstamp`` ([C] ``2013-05-20T20:49:32.000+0000``)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


def _failure(errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {"success": "FAILURE", "courseOfferingId": None, "errors": errors,
            "courseSchedule": []}


def _outcome(detail: dict[str, Any]) -> str:
    return str(detail.get("status") or detail.get("success"))


def _offering_errors(o: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []

    def bad(field: str, message: str) -> None:
        errors.append({"message": message, "field": f"courseOffering.{field}"})

    for key, label in (("academicSessionId", "Academic Session"),
                       ("courseOfferingName", "Course Offering Name"),
                       ("learningCourseId", "Learning Course"), ("startDate", "Start Date")):
        if o.get(key) in (None, ""):
            bad(key, f"{label} is required")
    for key, prefix, label in (("academicSessionId", "0vc", "Academic Session"),
                               ("learningCourseId", "0vY", "Learning Course"),
                               ("primaryFacultyId", "003", "Primary Faculty")):
        value = o.get(key)
        if value not in (None, "") and not (isinstance(value, str) and
                                            re.match(_ID.format(prefix=prefix), value)):
            bad(key, f"{label} is invalid")
    for key in ("courseOfferingId", "description"):
        if o.get(key) is not None and not isinstance(o[key], str):
            bad(key, f"{key} must be a string")
    name = o.get("courseOfferingName")
    if name is not None and (not isinstance(name, str) or len(name) > 255):
        bad("courseOfferingName", "Course Offering Name is invalid")
    starts = _instant(o.get("startDate"), "startDate", bad)
    ends = _instant(o.get("endDate"), "endDate", bad)
    if starts and ends and ends < starts:
        bad("endDate", "End Date < Start Date")
    active = o.get("isActive")
    if active is not None and active not in (True, False, "true", "false"):
        bad("isActive", "Is Active is invalid")
    for key in ("enrollmentCapacity", "waitlistedCapacity", "sectionNumber"):
        value = o.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            bad(key, f"{key} must be a non-negative integer")
    ext = o.get("courseOfferingExternalId")
    if ext is not None and not (isinstance(ext, dict) and isinstance(ext.get("fieldName"), str)
                                and isinstance(ext.get("fieldValue"), str) and ext["fieldValue"]):
        bad("courseOfferingExternalId", "External ID needs fieldName and fieldValue")
    for attr in o.get("courseOfferingCustomAttribute") or []:
        if not isinstance(attr, dict) or not isinstance(attr.get("fieldName"), str):
            bad("courseOfferingCustomAttribute", "Custom attribute needs fieldName")
    return errors


def _instant(value: Any, field: str, bad: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not _DATETIME.match(value):
        bad(field, f"{field} is invalid: use 2024-12-09T20:00:00.000Z")
        return None
    try:
        text = value.replace("Z", "+00:00")
        if re.search(r"[+-]\d{4}$", text):
            text = text[:-2] + ":" + text[-2:]
        return datetime.fromisoformat(text)
    except ValueError:
        bad(field, f"{field} is not a real date")
        return None


def _schedules(org: Any, offering: dict[str, Any],
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stored: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    failed = False
    for schedule in offering.get("courseOfferingSchedule") or []:
        errors = _schedule_errors(schedule)
        if errors:
            failed = True
            results.append({"success": False, "courseOfferingScheduleId": None,
                            "errors": errors})
            continue
        schedule_id = schedule.get("courseOfferingScheduleId") or org.new_id("0eA")
        stored.append({**schedule, "id": schedule_id})
        results.append({"success": True, "courseOfferingScheduleId": schedule_id, "errors": []})
    return stored, (results if failed else [])


def _schedule_errors(s: dict[str, Any]) -> list[dict[str, Any]]:
    errors: list[dict[str, Any]] = []
    start_date = s.get("startDate")
    if not start_date:
        errors.append({"message": "Start Date is required", "field": "courseSchedule.startDate"})
    elif not isinstance(start_date, str) or not _is_date(start_date):
        errors.append({"message": "Start Date is invalid", "field": "courseSchedule.startDate"})
    start, end = s.get("startTime"), s.get("endTime")
    for key, value in (("startTime", start), ("endTime", end)):
        if value is not None and (not isinstance(value, str) or _clock(value) is None):
            errors.append({"message": f"{key} is invalid", "field": f"courseSchedule.{key}"})
    if not start:
        errors.append({"message": "Start Time is required", "field": "courseSchedule.startTime"})
    elif _ends_before(start, end):
        errors.append({"message": "End time < Start time at Course Offering Schedule",
                       "field": "courseSchedule.endTime"})
    kind = s.get("type")
    if kind is not None and (not isinstance(kind, str) or kind not in SCHEDULE_TYPES):
        errors.append({"message": "Type is invalid", "field": "courseSchedule.type"})
    return errors


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return len(text) == 10 or bool(_DATETIME.match(text))


def _ends_before(start: Any, end: Any) -> bool:
    begins = _clock(start) if isinstance(start, str) else None
    ends = _clock(end) if isinstance(end, str) else None
    return begins is not None and ends is not None and ends < begins


def _clock(text: str) -> time | None:
    """A time of day (``00:15:00.000``, ``19:00:00.000Z``), or ``None`` (``25:00:00``)."""
    if not _TIME.match(text):
        return None
    try:
        return time.fromisoformat(text.removesuffix("Z"))
    except ValueError:
        return None
