"""Salesforce Education Cloud emulator: OAuth token and the bulk course-offering POST.

From the edu_cloud_dev_guide pages (Course Offering POST, Course Offering Input, Course Offering
Schedule Input, Course Offering output) and the REST API's error and limits pages. Whole-request
errors are the REST array ``[{"errorCode","message"}]``; per-record outcomes sit in ``details``
by position, keyed ``status`` for SUCCESS and ``success`` otherwise, as in the vendor's example.
Our readings where the docs are silent, each a setting: the batch cap (200), what
``overwrite=true`` does with an unknown external ID (fail), the daily quota.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from offering_sync.emulators.faults import Faults, install_faults

__all__ = ["Org", "create_app"]

DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "sf-demo-client", "sf-demo-secret"
MIN_VERSION = 64.0
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?(Z|[+-]\d\d:?\d\d)$")
_TIME = re.compile(r"^\d\d:\d\d:\d\d(\.\d{1,3})?Z?$")
_ID = r"^{prefix}[A-Za-z0-9]{{12}}([A-Za-z0-9]{{3}})?$"
_OFFERING_KEYS = {
    "academicSessionId", "courseOfferingName", "learningCourseId", "startDate",
    "courseOfferingCustomAttribute", "courseOfferingExternalId", "courseOfferingId",
    "courseOfferingSchedule", "description", "endDate", "enrollmentCapacity", "isActive",
    "primaryFacultyId", "sectionNumber", "waitlistedCapacity",
}
_SCHEDULE_KEYS = {
    "courseOfferingScheduleId", "startDate", "startTime", "courseOfferingScheduleCustomAttribute",
    "courseOfferingScheduleExternalId", "courseOfferingScheduleTemplate", "description",
    "endTime", "location", "recurrencePattern", "type",
}
SCHEDULE_TYPES = {"Class", "Lab", "Lecture", "Exam", "Seminar", "Tutorial"}
_ERROR_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 429: "REQUEST_LIMIT_EXCEEDED"}


class Org:
    """The emulated org's course offerings, keyed by id, with an external-ID index."""

    def __init__(self) -> None:
        self.offerings: dict[str, dict[str, Any]] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        """An 18-character Salesforce-shaped id."""
        n, chars = next(self._ids), []
        for _ in range(12):
            n, rem = divmod(n, 62)
            chars.append(_BASE62[rem])
        return prefix + "".join(reversed(chars)) + "AAA"


def create_app(org: Org | None = None, *, client_id: str = DEMO_CLIENT_ID,
               client_secret: str = DEMO_CLIENT_SECRET, static_tokens: tuple[str, ...] = (),
               max_batch: int = 200, upsert_missing: str = "fail", daily_limit: int = 1_000_000,
               token_ttl_calls: int | None = None, post_seconds: float = 0.0,
               faults: Faults | None = None) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.org`` holds what was loaded."""
    app = FastAPI(title="Salesforce Education Cloud emulator", openapi_url=None, docs_url=None)
    state = app.state
    state.org = org or Org()
    state.tokens = {t: None for t in static_tokens}
    state.usage = 0
    state.posts = 0
    state.records_posted = 0
    state.cursors = {}
    state.query_page_size = 2000
    state.in_flight = state.max_in_flight = 0
    state.settings = {"max_batch": max_batch, "upsert_missing": upsert_missing,
                      "daily_limit": daily_limit, "token_ttl_calls": token_ttl_calls,
                      "post_seconds": post_seconds}
    injector = install_faults(app, faults or Faults(), lambda status, msg: [
        {"errorCode": _ERROR_CODES.get(status, "SERVER_UNAVAILABLE"), "message": msg}])
    state.faults = injector

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace"),
                                                keep_blank_values=True).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "grant type not supported"}, 400)
        if form.get("client_id") != client_id or form.get("client_secret") != client_secret:
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "invalid client credentials"}, 400)
        issued = "00D" + secrets.token_urlsafe(24)
        state.tokens[issued] = state.settings["token_ttl_calls"]
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "access_token": issued, "signature": secrets.token_urlsafe(16),
            "token_format": "opaque", "instance_url": base, "id": f"{base}/id/00Dxx/005xx",
            "token_type": "Bearer", "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)),
        })

    @app.post("/services/data/v{version}/connect/education/academic-operations/course-offering")
    async def course_offering(version: str, request: Request) -> JSONResponse:
        refused = _gate(state, request, version)
        if refused is not None:
            return refused
        overwrite = request.query_params.get("overwrite", "false").lower()
        if overwrite not in ("true", "false"):
            return _error(400, "INVALID_INPUT", "overwrite must be true or false")
        try:
            body = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError) as exc:
            return _error(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}")
        problem = _shape_problem(body, state.settings["max_batch"])
        if problem:
            return _error(400, *problem)
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
            details = [_apply(state, item["courseOffering"], overwrite == "true")
                       for item in body]
        counts = {s: sum(1 for d in details if _outcome(d) == s)
                  for s in ("SUCCESS", "PARTIAL_SUCCESS", "FAILURE")}
        status = ("SUCCESS" if counts["SUCCESS"] == len(details) else
                  "FAILURE" if counts["FAILURE"] == len(details) else "PARTIAL_SUCCESS")
        return JSONResponse({"successCount": counts["SUCCESS"],
                             "partialSuccessCount": counts["PARTIAL_SUCCESS"],
                             "failureCount": counts["FAILURE"], "status": status,
                             "details": details}, status_code=201,
                            headers=_limit_header(state))

    @app.get("/services/data/v{version}/query")
    def query(version: str, request: Request) -> JSONResponse:
        refused = _gate(state, request, version, min_version=20.0)
        if refused is not None:
            return refused
        return _run_query(state, request, version, request.query_params.get("q", ""))

    @app.delete("/services/data/v{version}/sobjects/CourseOffering/{offering_id}")
    def delete_offering(version: str, offering_id: str, request: Request) -> Response:
        """SObject REST delete (api_rest resources_sobject_retrieve): 204, or 404 NOT_FOUND."""
        refused = _gate(state, request, version, min_version=20.0)
        if refused is not None:
            return refused
        with state.org.lock:
            if state.org.offerings.pop(offering_id, None) is None:
                return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return Response(status_code=204)

    @app.get("/services/data/v{version}/query/{locator}")
    def query_more(version: str, locator: str, request: Request) -> JSONResponse:
        refused = _gate(state, request, version, min_version=20.0)
        if refused is not None:
            return refused
        cursor = state.cursors.get(locator.rsplit("-", 1)[0])
        if cursor is None:
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return _query_page(state, version, cursor, int(locator.rsplit("-", 1)[1]))

    _admin_routes(app)
    return app


def _gate(state: Any, request: Request, version: str,
          min_version: float = MIN_VERSION) -> JSONResponse | None:
    """Version, auth and quota checks every data call goes through."""
    try:
        number = float(version)
    except ValueError:
        number = 0.0
    if number < min_version:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
    if token is None or token not in state.tokens:
        return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    left = state.tokens[token]
    if left is not None:
        if left <= 0:
            return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        state.tokens[token] = left - 1
    state.usage += 1
    if state.usage > state.settings["daily_limit"]:
        return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    return None


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
        unknown = set(item) - {"courseOffering"} | set(item["courseOffering"]) - _OFFERING_KEYS
        if unknown:
            return "JSON_PARSER_ERROR", f"Unrecognized field \"{sorted(unknown)[0]}\""
        for key in ("courseOfferingSchedule", "courseOfferingCustomAttribute"):
            value = item["courseOffering"].get(key)
            if value is not None and not isinstance(value, list):
                return "JSON_PARSER_ERROR", f"{key}: expected an array"
        for schedule in item["courseOffering"].get("courseOfferingSchedule") or []:
            if not isinstance(schedule, dict):
                return "JSON_PARSER_ERROR", "courseOfferingSchedule items must be objects"
            extra = set(schedule) - _SCHEDULE_KEYS
            if extra:
                return "JSON_PARSER_ERROR", f"Unrecognized field \"{sorted(extra)[0]}\""
            for key in ("courseOfferingScheduleCustomAttribute",):
                if schedule.get(key) is not None and not isinstance(schedule[key], list):
                    return "JSON_PARSER_ERROR", f"{key}: expected an array"
    return None


def _apply(state: Any, offering: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Validate and store one offering; returns its ``details`` item."""
    errors = _offering_errors(offering)
    faults = state.faults
    if not errors and faults.faults.reject_rate and faults._draw() < faults.faults.reject_rate:
        faults._count("reject")
        errors = [{"message": "unable to obtain exclusive access to this record", "field": None}]
    if errors:
        return _failure(errors)
    org: Org = state.org
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
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    created = org.offerings.get(offering_id, {}).get("CreatedDate", stamp)
    org.offerings[offering_id] = {**offering, "courseOfferingId": offering_id,
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


def _schedules(org: Org, offering: dict[str, Any],
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
        if value is not None and (not isinstance(value, str) or not _TIME.match(value)):
            errors.append({"message": f"{key} is invalid", "field": f"courseSchedule.{key}"})
    if not start:
        errors.append({"message": "Start Time is required", "field": "courseSchedule.startTime"})
    elif isinstance(start, str) and isinstance(end, str) and _TIME.match(start) and \
            _TIME.match(end) and _clock(end) < _clock(start):
        errors.append({"message": "End time < Start time at Course Offering Schedule",
                       "field": "courseSchedule.endTime"})
    kind = s.get("type")
    if kind is not None and kind not in SCHEDULE_TYPES:
        errors.append({"message": "Type is invalid", "field": "courseSchedule.type"})
    return errors


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text[:10])
    except ValueError:
        return False
    return len(text) == 10 or bool(_DATETIME.match(text))


def _clock(text: str) -> time:
    return time.fromisoformat(text.removesuffix("Z"))


def _limit_header(state: Any) -> dict[str, str]:
    return {"Sforce-Limit-Info": f"api-usage={state.usage}/{state.settings['daily_limit']}"}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"errorCode": code, "message": message}], status_code=status)


def _admin_routes(app: FastAPI) -> None:
    state = app.state

    @app.put("/_emulator/settings")
    def set_settings(changes: dict[str, Any]) -> dict[str, Any]:
        state.settings.update({k: v for k, v in changes.items() if k in state.settings})
        return dict(state.settings)

    @app.post("/_emulator/reset")
    def reset() -> dict[str, int]:
        with state.org.lock:
            state.org.offerings.clear()
            state.org.by_external.clear()
        state.posts = state.records_posted = state.usage = 0
        return {"offerings": 0}

    @app.get("/_emulator/course-offerings")
    def offerings() -> list[dict[str, Any]]:
        with state.org.lock:
            return list(state.org.offerings.values())

    @app.get("/_emulator/stats")
    def stats() -> dict[str, Any]:
        return {"usage": state.usage, "posts": state.posts,
                "records_posted": state.records_posted,
                "offerings": len(state.org.offerings), "injected": state.faults.injected}


# -- REST query API over CourseOffering ------------------------------------------------------
# "Up to 2,000 records can be returned at a time"; further pages via nextRecordsUrl until done.
# The emulator understands the SOQL this project's connector and a user would send:
# SELECT <fields> FROM CourseOffering [WHERE SystemModstamp >|>=|<|<= <datetime> [AND ...]]
# [ORDER BY ...]. Fields are the sObject names; the external-ID field is queryable by its name.

_SOQL = re.compile(r"^\s*SELECT\s+(?P<fields>.+?)\s+FROM\s+CourseOffering"
                   r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+ORDER\s+BY\s+(?P<order>.+?))?\s*$",
                   re.IGNORECASE | re.DOTALL)
_CONDITION = re.compile(r"^\s*SystemModstamp\s*(>=|<=|>|<|=)\s*(\S+)\s*$", re.IGNORECASE)
# <field> IN ('a', 'b'): SOQL string literals, backslash escapes (SOQL reference, "Quoted
# String Escape Sequences").
_IN = re.compile(r"^\s*(\w+)\s+IN\s*\((.*)\)\s*$", re.IGNORECASE | re.DOTALL)
_LITERAL = re.compile(r"'((?:[^'\\]|\\.)*)'\s*(?:,\s*|$)", re.DOTALL)
_SOBJECT = {
    "Id": lambda o: o["courseOfferingId"], "Name": lambda o: o.get("courseOfferingName"),
    "AcademicSessionId": lambda o: o.get("academicSessionId"),
    "LearningCourseId": lambda o: o.get("learningCourseId"),
    "StartDate": lambda o: _sf_datetime(o.get("startDate")),
    "EndDate": lambda o: _sf_datetime(o.get("endDate")),
    "IsActive": lambda o: o.get("isActive") in (True, "true"),
    "EnrollmentCapacity": lambda o: o.get("enrollmentCapacity"),
    "WaitlistCapacity": lambda o: o.get("waitlistedCapacity"),
    "SectionNumber": lambda o: o.get("sectionNumber"),
    "PrimaryFacultyId": lambda o: o.get("primaryFacultyId"),
    "Description": lambda o: o.get("description"),
    "SystemModstamp": lambda o: o["SystemModstamp"], "CreatedDate": lambda o: o["CreatedDate"],
}


def _sf_datetime(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return value.replace("Z", "+0000")


def _field_getter(name: str) -> Any:
    if name in _SOBJECT:
        return _SOBJECT[name]
    if name.endswith("__c"):  # custom fields: the external ID field, custom attributes
        def custom(o: dict[str, Any]) -> Any:
            ext = o.get("courseOfferingExternalId") or {}
            if ext.get("fieldName") == name:
                return ext.get("fieldValue")
            for attr in o.get("courseOfferingCustomAttribute") or []:
                if attr.get("fieldName") == name:
                    return attr.get("fieldValue")
            return None
        return custom
    return None


def _run_query(state: Any, request: Request, version: str, soql: str) -> JSONResponse:
    match = _SOQL.match(soql)
    if not match:
        return _error(400, "MALFORMED_QUERY", "unexpected token in query; only SELECT ... FROM "
                      "CourseOffering is supported by this org")
    names = [f.strip() for f in match.group("fields").split(",") if f.strip()]
    getters = {}
    for name in names:
        getter = _field_getter(name)
        if getter is None:
            return _error(400, "INVALID_FIELD", f"No such column '{name}' on entity "
                          "'CourseOffering'")
        getters[name] = getter
    conditions = []
    for part in re.split(r"\s+AND\s+", match.group("where") or "", flags=re.IGNORECASE):
        if not part.strip():
            continue
        test = _condition(part)
        if test is None:
            return _error(400, "MALFORMED_QUERY", f"unsupported condition: {part.strip()}")
        conditions.append(test)
    with state.org.lock:
        rows = sorted(state.org.offerings.values(),
                      key=lambda o: (o["SystemModstamp"], o["courseOfferingId"]))
    selected = [o for o in rows if all(test(o) for test in conditions)]
    records = [{"attributes": {"type": "CourseOffering",
                               "url": f"/services/data/v{version}/sobjects/CourseOffering/"
                                      f"{o['courseOfferingId']}"},
                **{name: getter(o) for name, getter in getters.items()}} for o in selected]
    size = state.query_page_size
    options = request.headers.get("Sforce-Query-Options", "")
    if "batchSize=" in options:
        try:
            size = max(200, min(2000, int(options.split("batchSize=")[1].split(",")[0])))
        except ValueError:
            pass
    locator = "01g" + secrets.token_hex(6)
    state.cursors[locator] = (records, size)
    return _query_page(state, version, (records, size), 0, locator)


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}


def _condition(part: str) -> Any:
    """One WHERE condition as a test on an offering, or None when not understood."""
    cond = _CONDITION.match(part)
    if cond is not None:
        moment = _parse_sf(cond.group(2))
        if moment is None:
            return None
        op = _OPS[cond.group(1)]
        return lambda o: op(_parse_sf(o["SystemModstamp"]), moment)
    found = _IN.match(part)
    if found is None:
        return None
    getter = _field_getter(found.group(1))
    body = found.group(2).strip()
    values = [re.sub(r"\\(.)", r"\1", m.group(1)) for m in _LITERAL.finditer(body)]
    if getter is None or not values or "".join(m.group(0) for m in _LITERAL.finditer(body)
                                               ).strip() != body:
        return None
    wanted = set(values)
    return lambda o: getter(o) in wanted


def _query_page(state: Any, version: str, cursor: tuple[list[dict[str, Any]], int], start: int,
                locator: str | None = None) -> JSONResponse:
    records, size = cursor
    if locator is None:
        locator = next(k for k, v in state.cursors.items() if v is cursor)
    chunk = records[start:start + size]
    done = start + size >= len(records)
    body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
    if not done:
        body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{start + size}"
    return JSONResponse(body, headers=_limit_header(state))


def _parse_sf(text: str) -> datetime | None:
    value = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def seed(app: FastAPI, count: int) -> None:
    """Fill the org with ``count`` valid offerings, as if users had entered them."""
    for index in range(count):
        offering = {
            "courseOfferingName": f"Salesforce offering {index} – Ökonomie",
            "academicSessionId": "0vcxx0000000026AAA", "learningCourseId": "0vYxx00000000ODEAY",
            "startDate": f"2026-0{1 + index % 9}-1{index % 10}T15:00:00.000Z",
            "endDate": f"2026-1{index % 3}-20T15:00:00.000Z", "isActive": True,
            "enrollmentCapacity": index % 40, "sectionNumber": 1 + index % 5,
            "description": f"Seeded offering {index}",
            "courseOfferingExternalId": {"fieldName": "OfferingSyncExternalId__c",
                                         "fieldValue": f"seed:{index}"},
        }
        with app.state.org.lock:
            _apply(app.state, offering, overwrite=False)
