"""Schema-driven fuzzing: whatever a client sends, the emulators answer in the vendor's error
format and never with a 500 the vendor would not send."""

import json
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offering_sync.emulators import digitalchalk, salesforce

DC = TestClient(digitalchalk.create_app(digitalchalk.Catalog(30)), raise_server_exceptions=True)
DC_AUTH = {"Authorization": f"Bearer {digitalchalk.DEFAULT_TOKEN}"}
SF_APP = salesforce.create_app(static_tokens=("fuzz-token",))
SF = TestClient(SF_APP, raise_server_exceptions=True)
SF_PATH = "/services/data/v66.0/connect/education/academic-operations/course-offering"
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(max_size=30)
json_leaf = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(
    allow_nan=False, allow_infinity=False) | text
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(text, inner, max_size=4), max_leaves=12)
offering_keys = st.sampled_from(sorted(salesforce._OFFERING_KEYS) + ["bogus"])
schedule = st.dictionaries(st.sampled_from(sorted(salesforce._SCHEDULE_KEYS)), json_value,
                           max_size=6)
offering = st.dictionaries(offering_keys, json_value | st.lists(schedule, max_size=3),
                           max_size=8)
body = st.lists(st.fixed_dictionaries({"courseOffering": offering}), max_size=4) | json_value


def is_dc_error(response) -> bool:
    payload = response.json()
    return isinstance(payload, dict) and bool(
        {"fieldErrors", "errors", "error"} & set(payload))


dates = st.sampled_from(["9999", "9999-12", "9999-12-31", "9999-12-31T23:59:59Z", "0001",
                         "2024-02-30", "2024-01-01T00:00:00Z,9999-12-31T23:59:59Z", "a,b,c"])


@FAST
@given(st.dictionaries(st.sampled_from(["limit", "offset", "createdDate", "title", "tag",
                                        "offeringCategoryId", "studentId", "x"]),
                       text | dates, max_size=5))
def test_digitalchalk_list_answers_200_or_a_vendor_error(params):
    response = DC.get("/dc/api/v5/offerings", params=params, headers=DC_AUTH)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert is_dc_error(response)
    else:
        assert isinstance(response.json()["results"], list)


@FAST
@given(st.text(min_size=1, max_size=40),
       st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
def test_digitalchalk_single_offering_paths(offering_id, method):
    path = "/dc/api/v5/offerings/" + quote(offering_id, safe="")
    response = DC.request(method, path, headers=DC_AUTH)
    assert response.status_code in (200, 404, 405)
    if response.status_code != 200:
        assert is_dc_error(response)


@FAST
@given(body, st.sampled_from(["true", "false", "maybe", ""]))
def test_salesforce_bulk_post_answers_per_record_or_the_rest_error_array(payload, overwrite):
    response = SF.post(SF_PATH, params={"overwrite": overwrite}, content=json.dumps(payload),
                       headers={"Authorization": "Bearer fuzz-token"})
    assert response.status_code in (201, 400), response.text
    result = response.json()
    if response.status_code == 400:
        assert isinstance(result, list) and {"errorCode", "message"} <= set(result[0])
    else:
        assert len(result["details"]) == len(payload)
        for detail in result["details"]:
            assert (detail.get("status") or detail.get("success")) in (
                "SUCCESS", "PARTIAL_SUCCESS", "FAILURE")


@FAST
@given(st.binary(max_size=200))
def test_salesforce_survives_bytes_that_are_not_json(raw):
    response = SF.post(SF_PATH, content=raw, headers={"Authorization": "Bearer fuzz-token"})
    assert response.status_code in (201, 400)


RH_APP = __import__("offering_sync.emulators.rhythm", fromlist=["create_app"]).create_app()
RH = TestClient(RH_APP, raise_server_exceptions=True)
SP_MOD = __import__("offering_sync.emulators.smarterproctoring", fromlist=["create_app"])
SP = TestClient(SP_MOD.create_app(), raise_server_exceptions=True)
rhythm_keys = st.sampled_from(["id", "name", "course_id", "start_date", "end_date", "timezone",
                               "capacity_options", "training_location_id",
                               "training_provider_id", "type", "address", "sys_version", "x"])


def rhythm_auth() -> dict[str, str]:
    from offering_sync.emulators import rhythm

    answer = RH.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
        "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": rhythm.AUDIENCE})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


RH_AUTH = rhythm_auth()


@FAST
@given(st.dictionaries(rhythm_keys, json_value, max_size=8) | json_value,
       st.sampled_from(["POST", "PUT"]))
def test_rhythm_writes_answer_a_record_or_a_message(body, method):
    path = "/courseOfferings/demo-tenant" + ("/nope" if method == "PUT" else "")
    response = RH.request(method, path, content=json.dumps(body), headers=RH_AUTH)
    assert response.status_code in (200, 400, 404, 409), response.text
    if response.status_code != 200:
        assert set(response.json()) == {"message"}


@FAST
@given(st.dictionaries(st.sampled_from(["title", "matchStrings", "startDate", "endDate", "x"]),
                       json_value, max_size=5) | json_value)
def test_smarterproctoring_create_answers_an_offering_or_a_boom_error(body):
    path = f"/v1/installs/{SP_MOD.DEMO_INSTALL}/courseOfferings"
    response = SP.post(path, content=json.dumps(body), headers={"token": SP_MOD.DEMO_TOKEN})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert set(response.json()) == {"statusCode", "error", "message"}
    else:
        assert response.json()["sid"].startswith("CO")


DEEP = '{"a":' * 5000 + "1" + "}" * 5000
MODERATELY_DEEP = '{"a":' * 300 + "1" + "}" * 300
RH_VALID = {"name": "n", "course_id": "c", "start_date": "2026-01-01T00:00:00Z",
            "end_date": "2026-01-02T00:00:00Z", "timezone": "UTC", "training_location_id": "l",
            "training_provider_id": "p", "capacity_options": {"capacity": 1},
            "credits_to_assign": [], "eligibility_requirements": {}}
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize("change", [{"type": []}, {"address": {"country": {}}},
                                    {"capacity_options": {"capacity": float("inf")}},
                                    {"custom_field_values": [{"table_value": [{"x": []}]}]}])
def test_rhythm_answers_the_inputs_that_gave_500s_with_a_message(change):
    content = json.dumps({**RH_VALID, **change}).replace("Infinity", "1e999")
    response = RH.post("/courseOfferings/demo-tenant", content=content,
                       headers={**RH_AUTH, **JSON})
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert set(response.json()) == {"message"}


@pytest.mark.parametrize("raw", [DEEP, MODERATELY_DEEP, '{"name": NaN}', "[" * 3000])
def test_deeply_nested_or_non_json_numbers_are_a_vendor_400(raw):
    rh = RH.post("/courseOfferings/demo-tenant", content=raw, headers={**RH_AUTH, **JSON})
    assert rh.status_code == 400 and set(rh.json()) == {"message"}
    sp = SP.post(f"/v1/installs/{SP_MOD.DEMO_INSTALL}/courseOfferings", content=raw,
                 headers={"token": SP_MOD.DEMO_TOKEN, **JSON})
    assert sp.status_code == 400 and set(sp.json()) == {"statusCode", "error", "message"}


def test_a_lone_surrogate_is_answered_in_valid_json():
    raw = '{"title": "bad \\udcff", "name": "bad \\udcff", "matchStrings": "a"}'
    sp = SP.post(f"/v1/installs/{SP_MOD.DEMO_INSTALL}/courseOfferings", content=raw,
                 headers={"token": SP_MOD.DEMO_TOKEN, **JSON})
    assert sp.status_code == 400 and sp.json()["message"] == '"title" is invalid'
    rh = RH.post("/courseOfferings/demo-tenant", content=raw, headers={**RH_AUTH, **JSON})
    assert rh.status_code == 400 and set(rh.json()) == {"message"}
