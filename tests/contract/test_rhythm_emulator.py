"""The Rhythm emulator holds to the vendor's docs where they are clear (see its docstring)."""

import base64
import json

import pytest
from fastapi.testclient import TestClient

from offering_sync.emulators import rhythm
from offering_sync.emulators.rhythm_schema import OfferingBody

BASE = f"/courseOfferings/{rhythm.DEMO_TENANT}"
CREDENTIALS = {"grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
               "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": rhythm.AUDIENCE}
VALID = {"name": "Leadership", "course_id": "c", "start_date": "2026-03-01T14:00:00Z",
         "end_date": "2026-03-02T14:00:00Z", "timezone": "America/New_York",
         "training_location_id": "l", "training_provider_id": "p",
         "capacity_options": {"capacity": 20}, "credits_to_assign": [],
         "eligibility_requirements": {}}


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def emulator(records: int = 0, **switches):
    app = rhythm.create_app(**switches)
    app.state.tenant.seed(records)
    client = TestClient(app)
    answer = client.post("/oauth/token", json=CREDENTIALS)
    client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
    return app, client


# -- tokens ------------------------------------------------------------------------------------

def test_tokens_look_like_jwts_with_the_documented_claims_and_last_a_day():
    client = TestClient(rhythm.create_app())
    answer = client.post("/oauth/token", json=CREDENTIALS).json()
    assert answer["expires_in"] == 86400 and answer["token_type"] == "Bearer"
    header, payload, _signature = answer["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == rhythm.AUDIENCE
    assert claims["http://rhythmsoftware.com/tenant_id"] == rhythm.DEMO_TENANT


def test_tokens_are_counted_and_capped_per_month():
    clock = Clock()
    app = rhythm.create_app(monthly_token_limit=2, clock=clock)
    client = TestClient(app)
    assert [client.post("/oauth/token", json=CREDENTIALS).status_code
            for _ in range(3)] == [200, 200, 429]
    assert app.state.tokens_issued == 2
    clock.now += 32 * 86400  # next month
    assert client.post("/oauth/token", json=CREDENTIALS).status_code == 200


def test_a_form_encoded_token_request_is_accepted_as_auth0_accepts_it():
    answer = TestClient(rhythm.create_app()).post("/oauth/token", data=CREDENTIALS)
    assert answer.status_code == 200


def test_an_invalid_client_gets_auth0s_answer():
    answer = TestClient(rhythm.create_app()).post(
        "/oauth/token", json={**CREDENTIALS, "client_secret": "wrong"})
    assert answer.status_code == 401
    assert answer.json() == {"error": "access_denied", "error_description": "Unauthorized"}


def test_an_expired_or_unknown_bearer_is_401():
    clock = Clock()
    app, client = emulator(clock=clock)
    assert client.get(BASE).status_code == 200
    clock.now += 86400
    assert client.get(BASE).json() == {"message": "The incoming token has expired"}
    assert client.get(BASE, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_another_tenant_is_forbidden():
    _, client = emulator()
    assert client.get("/courseOfferings/other-tenant").status_code == 403


# -- only documented calls ---------------------------------------------------------------------

@pytest.mark.parametrize("method,path", [("POST", BASE + "/search"), ("PATCH", BASE + "/x"),
                                         ("GET", "/courseOfferings")])
def test_undocumented_calls_are_404(method, path):
    _, client = emulator()
    answer = client.request(method, path, json={"criteria": []})
    assert answer.status_code == 404 and set(answer.json()) == {"message"}


# -- create ------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["name", "course_id", "start_date", "end_date", "timezone",
                                   "training_location_id", "training_provider_id",
                                   "capacity_options", "credits_to_assign",
                                   "eligibility_requirements"])
def test_create_names_the_required_field_that_is_missing(field):
    _, client = emulator()
    answer = client.post(BASE, json={k: v for k, v in VALID.items() if k != field})
    assert answer.status_code == 400 and answer.json() == {"message": f"{field} is required"}


@pytest.mark.parametrize("change,field", [
    ({"capacity_options": {}}, "capacity_options.capacity"),
    ({"credits_to_assign": [{"quantity": 1}]}, "credits_to_assign[0].credit_type_id"),
    ({"enable_webinar_integration": True}, "webinar_integration_options"),
    ({"webinar_integration_options": {"webinar_service": "integrations-zoom-accounts"}},
     "webinar_integration_options.webinar_account_id"),
    ({"type": "hybrid"}, "type"), ({"address": {"country": "USA"}}, "address.country"),
    ({"start_date": "2026-03-01T14:00:00+01:00"}, "start_date"),
    ({"capacity_options": {"capacity": "5"}}, "capacity_options.capacity"),
])
def test_create_refuses_what_the_schema_refuses_naming_the_field(change, field):
    _, client = emulator()
    answer = client.post(BASE, json={**VALID, **change})
    assert answer.status_code == 400 and answer.json()["message"].startswith(field)


def test_webinar_options_can_be_required_always_as_the_seed_literally_says():
    _, client = emulator(webinar_options="always")
    answer = client.post(BASE, json=VALID)
    assert answer.json() == {"message": "webinar_integration_options is required"}


def test_create_makes_the_id_and_the_audit_fields_and_ignores_client_audit_fields():
    app, client = emulator()
    record = client.post(BASE, json={**VALID, "sys_version": 99, "sys_created_by_id": "me",
                                     "sys_external_id": "ours:1"}).json()
    assert record["sys_version"] == 1 and record["sys_created_by_id"] == "api"
    assert record["sys_external_id"] == "ours:1" and record["id"] in app.state.tenant.records
    assert record["sys_created_at"] == record["sys_last_modified_at"]
    assert record["sys_created_at"].endswith("Z")


# -- replace and delete ------------------------------------------------------------------------

def test_put_is_a_full_replacement_that_bumps_version_and_modification_time():
    clock = Clock()
    app, client = emulator(1, clock=clock)
    (offering_id, record), = app.state.tenant.records.items()
    clock.now += 60
    answer = client.put(f"{BASE}/{offering_id}", json={**VALID, "sys_version": 1})
    assert answer.status_code == 200
    stored = app.state.tenant.records[offering_id]
    assert stored["sys_version"] == 2
    assert stored["sys_last_modified_at"] > record["sys_last_modified_at"]
    assert stored["sys_created_at"] == record["sys_created_at"]
    for field in rhythm.TARGET_ONLY_FIELDS:  # not sent, so gone
        if field not in VALID:
            assert field not in stored, field


def test_put_needs_the_current_version():
    app, client = emulator(1)
    offering_id = next(iter(app.state.tenant.records))
    assert client.put(f"{BASE}/{offering_id}", json=VALID).status_code == 400
    stale = client.put(f"{BASE}/{offering_id}", json={**VALID, "sys_version": 0})
    assert stale.status_code == 409 and "version 1" in stale.json()["message"]
    assert app.state.tenant.records[offering_id]["sys_version"] == 1


def test_put_refuses_an_id_other_than_the_paths():
    app, client = emulator(1)
    offering_id = next(iter(app.state.tenant.records))
    answer = client.put(f"{BASE}/{offering_id}", json={**VALID, "sys_version": 1, "id": "x"})
    assert answer.status_code == 400


def test_locked_records_refuse_writes():
    app, client = emulator(1)
    offering_id = next(iter(app.state.tenant.records))
    app.state.tenant.records[offering_id]["sys_locked"] = True
    assert client.put(f"{BASE}/{offering_id}",
                      json={**VALID, "sys_version": 1}).status_code == 403
    assert client.delete(f"{BASE}/{offering_id}").status_code == 403
    assert app.state.writes == 0


def test_delete_removes_the_record():
    app, client = emulator(2)
    offering_id = next(iter(app.state.tenant.records))
    assert client.delete(f"{BASE}/{offering_id}").json()["id"] == offering_id
    assert client.get(f"{BASE}/{offering_id}").status_code == 404
    assert client.delete(f"{BASE}/{offering_id}").status_code == 404


# -- reads -------------------------------------------------------------------------------------

def test_fields_narrow_lists_and_gets_with_dotted_paths_reaching_into_objects():
    app, client = emulator(3)
    items = client.get(BASE, params={"fields": "id,address.city"}).json()["Items"]
    assert all(set(i) == {"id", "address"} and set(i["address"]) == {"city"} for i in items)
    one = client.get(f"{BASE}/{items[0]['id']}", params={"fields": "sys_version"}).json()
    assert one == {"sys_version": 1}


def test_stale_reads_miss_a_fresh_write_unless_consistent_read_is_asked_for():
    app, client = emulator(stale_reads=True, stale_seconds=60)
    created = client.post(BASE, json=VALID).json()
    assert client.get(f"{BASE}/{created['id']}").status_code == 404
    assert client.get(BASE).json()["Count"] == 0
    assert client.get(f"{BASE}/{created['id']}",
                      params={"consistentRead": "true"}).status_code == 200


def test_seeded_records_are_valid_and_hold_the_target_only_fields_users_set():
    app, _ = emulator(6)
    for record in app.state.tenant.records.values():
        OfferingBody.model_validate(record)
        for field in set(rhythm.TARGET_ONLY_FIELDS) - {"webinar_integration_options"}:
            assert field in record, field
    webinars = [r for r in app.state.tenant.records.values() if r["enable_webinar_integration"]]
    assert webinars and all("webinar_integration_options" in r for r in webinars)


# -- paging keys -------------------------------------------------------------------------------

def _first_key(client) -> object:
    return client.get(BASE).json()["LastEvaluatedKey"]


def test_the_object_key_is_dynamodb_shaped_and_must_come_back_json_encoded():
    _, client = emulator(250)
    key = _first_key(client)
    assert list(key) == ["tenant_id", "id"] and key["tenant_id"] == rhythm.DEMO_TENANT
    page = client.get(BASE, params={"exclusiveStartKey": json.dumps(key)})
    assert page.status_code == 200 and page.json()["Count"] == 100


@pytest.mark.parametrize("spoil", [
    str,                                                                 # a Python repr
    lambda k: json.dumps({"id": k["id"], "tenant_id": k["tenant_id"]}),  # re-ordered
    lambda k: json.dumps({"id": k["id"]}),                               # partial
    lambda k: json.dumps({**k, "tenant_id": "other"}),                   # another tenant's
    lambda k: k["id"],                                                   # the bare id
    lambda k: "",
])
def test_anything_but_the_key_given_back_is_a_400(spoil):
    _, client = emulator(150)
    answer = client.get(BASE, params={"exclusiveStartKey": spoil(_first_key(client))})
    assert answer.status_code == 400 and set(answer.json()) == {"message"}


def test_the_string_key_must_come_back_as_is():
    _, client = emulator(150, paging="string")
    key = _first_key(client)
    assert isinstance(key, str)
    assert client.get(BASE, params={"exclusiveStartKey": key}).json()["Count"] == 50
    assert client.get(BASE, params={"exclusiveStartKey": key + "x"}).status_code == 400


def test_a_key_still_continues_after_its_record_is_deleted():
    app, client = emulator(150)
    key = _first_key(client)
    del app.state.tenant.records[key["id"]]
    answer = client.get(BASE, params={"exclusiveStartKey": json.dumps(key)})
    assert answer.json()["Count"] == 50  # the 50 after it, none repeated


def test_the_bare_array_mode_answers_one_array_and_takes_no_key():
    _, client = emulator(130, paging="array")
    assert len(client.get(BASE).json()) == 130
    assert client.get(BASE, params={"exclusiveStartKey": "x"}).status_code == 400
