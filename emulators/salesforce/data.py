"""The REST API's read resources: versions, limits, describe, and query with its locators.

From the REST API developer guide: ``GET /services/data/`` lists ``{label, url, version}`` for
each version and needs no session (resources-versions); ``GET …/limits`` answers
``{"DailyApiRequests": {"Max", "Remaining"}, …}`` (resources-limits); ``PATCH
…/sobjects/CourseOffering/{id}`` updates the fields sent, answers 204 (resources_sobject_retrieve);
``GET …/sobjects/{X}/describe`` answers ``{name, fields: [{name, type, externalId, …}], …}``
(resources-sobject-describe); ``DELETE …/sobjects/CourseOffering/{id}`` answers 204 or 404
(resources_sobject_retrieve); ``GET …/query?q=`` answers ``{totalSize, done, nextRecordsUrl,
records}`` with up to 2,000 records a page and further pages at
``/services/data/vXX.X/query/<locator>-<n>`` (resources-query, resources-query-more-results).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from offering_sync.emulators.salesforce.bulk import modstamp
from offering_sync.emulators.salesforce.common import (
    SalesforceError,
    Version,
    api_session,
    limit_header,
    org_state,
)
from offering_sync.emulators.salesforce.org import DESCRIBE, Org
from offering_sync.emulators.salesforce.soql import QueryError, compare, parse

__all__ = ["router", "run_query"]

router = APIRouter()
Session = Annotated[str, Depends(api_session)]
# Hints for the OpenAPI the fuzz tests generate from; they validate nothing, so an unknown
# version or object still gets the vendor's 404.
SObject = Annotated[str, Path(json_schema_extra={"enum": [
    "CourseOffering", "AcademicSession", "LearningCourse"]})]
Soql = Annotated[str, Query(examples=[
    "SELECT Id, Name FROM LearningCourse WHERE CourseNumber = 'digitalchalk' LIMIT 5"])]
Locator = Annotated[str, Path(examples=["01g0123456789ab-2000"])]
_LOCATOR = re.compile(r"^(01g[0-9a-f]{12})-(\d{1,9})$")


def _label(version: float) -> str:
    # Three releases a year since Winter '11 (v20.0): Winter, Spring, Summer (66.0: Spring '26).
    step = int(version) - 20
    return f"{('Winter', 'Spring', 'Summer')[step % 3]} '{11 + step // 3:02d}"


@router.get("/services/data/")
@router.get("/services/data")
def versions(request: Request) -> JSONResponse:
    """Every API version the org serves, oldest first."""
    top = int(org_state(request).settings["max_version"])
    return JSONResponse([{"label": _label(float(v)), "url": f"/services/data/v{v}.0",
                          "version": f"{v}.0"} for v in range(20, top + 1)])


@router.get("/services/data/v{version}/limits")
def limits(version: Version, request: Request, _session: Session) -> JSONResponse:
    """The org's limits; only the daily API requests are emulated."""
    state = org_state(request)
    cap = state.settings["daily_limit"]
    return JSONResponse({"DailyApiRequests": {"Max": cap, "Remaining": max(0, cap - state.usage)},
                         "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000}},
                        headers=limit_header(state))


@router.get("/services/data/v{version}/sobjects/{sobject}/describe")
def describe(version: Version, sobject: SObject, request: Request, _session: Session) -> JSONResponse:
    """Field names, types and which are external IDs."""
    state = org_state(request)
    fields = DESCRIBE.get(sobject)
    if fields is None:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    described = [f.describe() for f in fields]
    if sobject == "CourseOffering":
        described += [{"name": name, "type": "string", "label": name, "externalId": True,
                       "nillable": True, "filterable": True, "createable": True,
                       "updateable": True, "unique": True}
                      for name in state.settings["external_id_fields"]]
    return JSONResponse({"name": sobject, "label": sobject, "queryable": True,
                         "createable": sobject == "CourseOffering", "fields": described,
                         "urls": {"describe": f"/services/data/v{version}/sobjects/{sobject}/"
                                              "describe"}},
                        headers=limit_header(state))


@router.get("/services/data/v{version}/query")
def query(version: Version, request: Request, _session: Session, q: Soql = "") -> JSONResponse:
    """Run a SOQL query; the first page of its answer."""
    state = org_state(request)
    state.queries.append(q)
    try:
        records = run_query(state.org, q, version, state.settings["external_id_fields"])
    except QueryError as exc:
        raise SalesforceError(400, exc.code, str(exc)) from None
    size = state.query_page_size
    options = request.headers.get("Sforce-Query-Options", "")
    match = re.search(r"batchSize=(\d{1,6})", options)
    if match:
        size = max(200, min(2000, int(match.group(1))))
    locator = "01g" + secrets.token_hex(6)
    state.cursors[locator] = (records, size)
    return _page(state, version, locator, 0)


@router.delete("/services/data/v{version}/sobjects/CourseOffering/{offering_id}",
               status_code=204)
def delete_offering(version: Version, offering_id: str, request: Request,
                    _session: Session) -> Response:
    """SObject REST delete (api_rest resources_sobject_retrieve): 204, or 404 NOT_FOUND."""
    org = org_state(request).org
    with org.lock:
        if org.offerings.pop(offering_id, None) is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        for key in [k for k, v in org.by_external.items() if v == offering_id]:
            del org.by_external[key]
    return Response(status_code=204)


# sObject field → the key the bulk POST stores it under, for the fields a person may edit.
_EDITABLE = {"Name": "courseOfferingName", "IsActive": "isActive", "Description": "description",
             "EnrollmentCapacity": "enrollmentCapacity", "WaitlistCapacity": "waitlistedCapacity",
             "SectionNumber": "sectionNumber", "PrimaryFacultyId": "primaryFacultyId",
             "StartDate": "startDate", "EndDate": "endDate"}


@router.patch("/services/data/v{version}/sobjects/CourseOffering/{offering_id}",
              status_code=204)
async def update_offering(version: Version, offering_id: str, request: Request,
                          _session: Session) -> Response:
    """SObject REST update: what a person's edit in the org does.

    [C] api_rest resources_sobject_retrieve (PATCH): 204 on success, 404 NOT_FOUND, 400
    ``INVALID_FIELD`` for a field the object lacks; only the fields sent change, and
    ``SystemModstamp`` moves on (a system field set on every change). [I] Only the fields in
    ``_EDITABLE`` are emulated.
    """
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "malformed JSON") from None
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "expected a JSON object")
    unknown = sorted(set(body) - set(_EDITABLE))
    if unknown:
        raise SalesforceError(400, "INVALID_FIELD",
                              f"No such column '{unknown[0]}' on sobject of type CourseOffering")
    for name, value in body.items():
        kind = {"IsActive": bool, "EnrollmentCapacity": int, "WaitlistCapacity": int,
                "SectionNumber": int}.get(name, str)
        if value is not None and (not isinstance(value, kind) or
                                  (kind is int and isinstance(value, bool))):
            raise SalesforceError(400, "JSON_PARSER_ERROR",
                                  f"Cannot deserialize instance of {kind.__name__} for {name}")
    org = org_state(request).org
    with org.lock:
        offering = org.offerings.get(offering_id)
        if offering is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        offering.update({_EDITABLE[k]: v for k, v in body.items()}, SystemModstamp=modstamp())
    return Response(status_code=204)


@router.get("/services/data/v{version}/query/{locator}")
def query_more(version: Version, locator: Locator, request: Request, _session: Session) -> JSONResponse:
    """A further page of a query, by the locator its previous page named."""
    state = org_state(request)
    match = _LOCATOR.match(locator)
    if match is None or match.group(1) not in state.cursors:
        raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return _page(state, version, match.group(1), int(match.group(2)))


def _page(state: Any, version: str, locator: str, start: int) -> JSONResponse:
    records, size = state.cursors[locator]
    chunk = records[start:start + size]
    done = start + size >= len(records)
    body: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
    if not done:
        body["nextRecordsUrl"] = state.settings["next_url_prefix"] + \
            f"/services/data/v{version}/query/{locator}-{start + size}"
    return JSONResponse(body, headers=limit_header(state))


# -- how each object's records read as sObject fields -------------------------------------------

def _sf_datetime(value: Any) -> Any:
    return value.replace("Z", "+0000") if isinstance(value, str) else value


_OFFERING: dict[str, Callable[[dict[str, Any]], Any]] = {
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


def _offering_getter(name: str, external_fields: list[str]) -> Callable[[dict[str, Any]], Any] | None:
    if name in _OFFERING:
        return _OFFERING[name]
    if name.endswith("__c"):  # custom fields: the external ID field, custom attributes
        def custom(o: dict[str, Any]) -> Any:
            ext = o.get("courseOfferingExternalId") or {}
            if ext.get("fieldName") == name:
                return ext.get("fieldValue")
            for attr in o.get("courseOfferingCustomAttribute") or []:
                if isinstance(attr, dict) and attr.get("fieldName") == name:
                    return attr.get("fieldValue")
            return None
        return custom
    return None


def run_query(org: Org, soql: str, version: str, external_fields: list[str],
              ) -> list[dict[str, Any]]:
    """The records ``soql`` selects, each with ``attributes`` as the REST API adds them."""
    parsed = parse(soql)
    if parsed.sobject == "CourseOffering":
        by_id = next((c for c in parsed.where if c.field == "Id" and c.op in ("=", "IN")), None)
        with org.lock:
            if by_id is None:
                found = list(org.offerings.values())
            else:  # by Id: straight to the records, as the org's index would (not a scan)
                ids = by_id.value if by_id.op == "IN" else (by_id.value,)
                found = [org.offerings[i] for i in dict.fromkeys(ids)
                         if isinstance(i, str) and i in org.offerings]
            rows = sorted(found, key=lambda o: (o["SystemModstamp"], o["courseOfferingId"]))
        getters: dict[str, Callable[[dict[str, Any]], Any]] = {"Id": _OFFERING["Id"]}
        for name in {*parsed.fields, *(c.field for c in parsed.where)}:
            getter = _offering_getter(name, external_fields)
            if getter is None:
                raise QueryError("INVALID_FIELD",
                                 f"No such column '{name}' on entity 'CourseOffering'")
            getters[name] = getter
        views = [{name: get(o) for name, get in getters.items()} for o in rows]
    else:
        table = org.table(parsed.sobject)
        if table is None:
            raise QueryError("INVALID_TYPE", f"sObject type '{parsed.sobject}' is not supported")
        known = {f.name for f in DESCRIBE[parsed.sobject]}
        for name in {*parsed.fields, *(c.field for c in parsed.where)}:
            if name not in known:
                raise QueryError("INVALID_FIELD",
                                 f"No such column '{name}' on entity '{parsed.sobject}'")
        with org.lock:
            views = [dict(r) for r in sorted(table.values(), key=lambda r: r["Id"])]
    selected = [v for v in views if all(compare(v.get(c.field), c.op, c.value)
                                        for c in parsed.where)]
    if parsed.limit is not None:
        selected = selected[:parsed.limit]
    return [{"attributes": {"type": parsed.sobject,
                            "url": f"/services/data/v{version}/sobjects/{parsed.sobject}/"
                                   f"{v.get('Id')}"},
             **{name: v.get(name) for name in parsed.fields}} for v in selected]
