"""Schemathesis fuzzes the Salesforce emulator from its own OpenAPI (served at an admin path):
whatever arrives, the answer is never a 5xx, and every error is in the vendor's shape (the REST
error array for data calls, ``{error, error_description}`` for the token endpoint)."""

import schemathesis
from hypothesis import HealthCheck, settings

from offering_sync.emulators import salesforce

APP = salesforce.create_app(static_tokens=("fuzz-token",))
SCHEMA = schemathesis.openapi.from_asgi("/_emulator/openapi.json", APP).include(
    path_regex=r"^/services/")


def _vendor_shaped(path: str, status: int, body) -> bool:
    if status < 400:
        return True
    if path == "/services/oauth2/token" and status not in (404, 405):
        return isinstance(body, dict) and {"error", "error_description"} <= set(body)
    return isinstance(body, list) and bool(body) and all(
        isinstance(e, dict) and {"errorCode", "message"} <= set(e) for e in body)


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_vendor_shaped_errors(case):
    case.headers = {**(case.headers or {}), "Authorization": "Bearer fuzz-token"}
    response = case.call()
    assert response.status_code < 500, (case.path, response.text[:300])
    try:
        body = response.json()
    except ValueError:
        body = None
    assert _vendor_shaped(case.path, response.status_code, body), (case.path, response.text[:300])


def test_the_inputs_that_once_answered_500_now_answer_as_the_vendor_would():
    from fastapi.testclient import TestClient

    client = TestClient(APP, raise_server_exceptions=True)
    auth = {"Authorization": "Bearer fuzz-token"}
    path = "/services/data/v66.0/connect/education/academic-operations/course-offering"
    item = {"courseOffering": {
        "courseOfferingExternalId": {"fieldName": "Ext__c", "fieldValue": "late-1"},
        "courseOfferingName": "Late", "academicSessionId": "0vcxx00000000ODAAY",
        "learningCourseId": "0vYxx00000000ODEAY", "startDate": "2026-01-05T10:00:00.000Z",
        "courseOfferingSchedule": [{"startDate": "2026-01-05", "startTime": "25:00:00",
                                    "endTime": "26:00:00.000", "type": []}]}}
    answer = client.post(path, json=[item], headers=auth)
    assert answer.status_code == 201
    (detail,) = answer.json()["details"]
    fields = {e["field"] for s in detail["courseSchedule"] for e in s["errors"]}
    assert {"courseSchedule.startTime", "courseSchedule.endTime", "courseSchedule.type"} <= fields
    for locator in ("garbage", "01g-x", "01g0123456789ab-99999999999", "-"):
        more = client.get(f"/services/data/v66.0/query/{locator}", headers=auth)
        assert more.status_code in (400, 404)
        assert more.json()[0]["errorCode"] in ("INVALID_QUERY_LOCATOR", "NOT_FOUND")
    nested = "[" * 100_000 + "]" * 100_000
    deep = client.post(path, content=nested, headers={**auth, "Content-Type": "application/json"})
    assert deep.status_code == 400 and deep.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
