"""Salesforce bulk course-offering target against its emulator and the vendor's examples."""

import copy

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceTarget
from offering_sync.emulators.salesforce import create_app
from offering_sync.errors import QuotaExhausted, Rejected, Unauthorized
from tests.conftest import fast_retry, fixture_json, sf_target
from tests.systems import write

PATH = "/services/data/v66.0/connect/education/academic-operations/course-offering"


def payload(n: int, **changes):
    body = {"courseOffering": {
        "courseOfferingExternalId": {"fieldName": "Ext__c", "fieldValue": f"ext-{n}"},
        "courseOfferingName": f"Offering {n}", "academicSessionId": "0vcxx00000000ODAAY",
        "learningCourseId": "0vYxx00000000ODEAY", "startDate": "2024-12-09T20:00:00.000Z",
        "isActive": True}}
    body["courseOffering"].update(changes)
    return body


def token(client: TestClient) -> str:
    response = client.post("/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "sf-demo-client",
        "client_secret": "sf-demo-secret"})
    assert response.status_code == 200
    return response.json()["access_token"]


def test_the_request_example_of_the_docs_is_accepted_unchanged(sf_app):
    client = TestClient(sf_app)
    example = fixture_json("salesforce", "course_offering_request_example.json")
    response = client.post(PATH, params={"overwrite": "false"}, json=example,
                           headers={"Authorization": f"Bearer {token(client)}"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["successCount"] == 1 and body["status"] == "SUCCESS"
    stored = next(iter(sf_app.state.org.offerings.values()))
    assert len(stored["courseOfferingSchedule"]) == 2


def test_the_output_example_of_the_docs_is_read_by_position():
    """Mixed `status`/`success` keys: SUCCESS, PARTIAL_SUCCESS, FAILURE, in input order."""
    example = fixture_json("salesforce", "course_offering_response_example.json")
    client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(201, json=example)), base_url="http://sf/")
    target = SalesforceTarget(HttpCaller(client, "salesforce"),
                              SalesforceSettings(token=SecretStr("t")))
    first, second, third = write(target, [payload(1), payload(2), payload(3)], overwrite=False)
    assert (first.key, first.ok, first.target_id) == ("ext-1", True, "0xAxx0000000001EAA")
    assert (second.ok, second.target_id) == (False, "0xAxx0000000001EDD")
    assert ("courseSchedule.endTime[1]", "End time < Start time at Course Offering Schedule") \
        in second.errors
    assert (third.ok, third.target_id) == (False, None)
    assert third.errors == (("courseOffering.academicSessionId", "Academic Session is invalid"),)


def test_every_input_gets_a_result_and_one_bad_record_does_not_sink_the_batch(sf_app):
    target = sf_target(sf_app)
    results = write(target, [payload(1), payload(2, academicSessionId="nope"), payload(3)],
                            overwrite=False)
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].errors[0][0] == "courseOffering.academicSessionId"
    assert len(sf_app.state.org.offerings) == 2


def test_a_known_external_id_with_overwrite_false_is_a_conflict_not_a_duplicate(sf_app):
    target = sf_target(sf_app)
    write(target, [payload(1)], overwrite=False)
    (again,) = write(target, [payload(1, courseOfferingName="New")], overwrite=False)
    assert again.conflict == "exists" and len(sf_app.state.org.offerings) == 1
    (updated,) = write(target, [payload(1, courseOfferingName="New")], overwrite=True)
    assert updated.ok
    (stored,) = sf_app.state.org.offerings.values()
    assert stored["courseOfferingName"] == "New"


def test_overwrite_true_for_an_unknown_external_id_says_missing(sf_app):
    (result,) = write(sf_target(sf_app), [payload(9)], overwrite=True)
    assert result.conflict == "missing" and not sf_app.state.org.offerings


def test_a_batch_over_the_cap_is_rejected_whole():
    app = create_app(max_batch=2)
    with pytest.raises(Rejected) as info:
        write(sf_target(app), [payload(i) for i in range(3)], overwrite=False)
    assert info.value.status == 400 and "INVALID_INPUT" in info.value.vendor_message


def test_an_expired_token_is_refreshed_once():
    app = create_app(token_ttl_calls=1)
    target = sf_target(app)
    write(target, [payload(1)], overwrite=False)
    (second,) = write(target, [payload(2)], overwrite=False)
    assert second.ok


def test_bad_client_credentials_are_a_typed_error_without_the_secret():
    app = create_app()
    with pytest.raises(Unauthorized) as info:
        write(sf_target(app, client_secret="wrong-secret-123"), [payload(1)], overwrite=False)
    message = str(info.value)
    assert ("Salesforce refused OFFERING_SYNC_SALESFORCE_CLIENT_SECRET at "
            "http://testserver/services/oauth2/token: invalid_client (invalid client "
            "credentials)") in message
    assert "wrong-secret-123" not in message and app.state.posts == 0


def test_the_daily_quota_stops_the_run_instead_of_retrying():
    app = create_app(daily_limit=1)
    target = sf_target(app)
    write(target, [payload(1)], overwrite=False)
    with pytest.raises(QuotaExhausted):
        write(target, [payload(2)], overwrite=False)


def test_unknown_fields_are_refused_so_mapping_drift_shows(sf_app):
    with pytest.raises(Rejected, match="Unrecognized field"):
        write(sf_target(sf_app), [payload(1, colour="red")], overwrite=False)


def test_transient_server_errors_are_retried(sf_app):
    from offering_sync.emulators.faults import Faults

    sf_app.state.faults.configure(Faults(error_rate=0.5, seed=3))
    target = sf_target(sf_app, retry=fast_retry(attempts=20))
    results = write(target, [payload(i) for i in range(5)], overwrite=False)
    assert all(r.ok for r in results)
    assert sf_app.state.faults.injected


def test_emulator_whole_request_errors_use_the_rest_error_array(sf_app):
    client = TestClient(sf_app)
    auth = {"Authorization": f"Bearer {token(client)}"}
    bad_json = client.post(PATH, content=b"{nope", headers=auth)
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    no_auth = client.post(PATH, json=[payload(1)])
    assert no_auth.status_code == 401 and no_auth.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    old = client.post(PATH.replace("v66.0", "v60.0"), json=[payload(1)], headers=auth)
    assert old.status_code == 404


def test_partial_success_keeps_the_offering_id(sf_app):
    item = payload(1)
    item["courseOffering"]["courseOfferingSchedule"] = [
        {"startDate": "2024-12-01", "startTime": "10:00:00.000", "endTime": "09:00:00.000"}]
    (result,) = write(sf_target(sf_app), [copy.deepcopy(item)], overwrite=False)
    assert not result.ok and result.target_id and result.conflict is None
    assert result.errors[0][0].startswith("courseSchedule.endTime")
