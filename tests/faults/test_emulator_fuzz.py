"""Schema-driven fuzzing: whatever a client sends, the emulators answer in the vendor's error
format and never with a 500 the vendor would not send."""

import json
from urllib.parse import quote

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulators import digitalchalk, salesforce

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


@FAST
@given(st.dictionaries(st.sampled_from(["limit", "offset", "createdDate", "title", "tag",
                                        "offeringCategoryId", "studentId", "x"]), text,
                       max_size=5))
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
