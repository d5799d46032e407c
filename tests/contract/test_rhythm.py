"""Rhythm connector against its emulator and the vendor's own examples."""

import pytest
from fastapi.testclient import TestClient

from offering_sync.emulators import rhythm
from offering_sync.errors import Unauthorized
from tests.conftest import fixture_json
from tests.systems import System, write

BASE = f"/courseOfferings/{rhythm.DEMO_TENANT}"


def token(client: TestClient) -> dict[str, str]:
    answer = client.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
        "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": rhythm.AUDIENCE})
    assert answer.status_code == 200 and answer.json()["expires_in"] == 86400
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_the_create_example_of_the_docs_is_refused_for_its_id_and_accepted_without():
    app = rhythm.create_app()
    client = TestClient(app)
    auth = token(client)
    example = fixture_json("rhythm", "create_request_example.json")
    refused = client.post(BASE, json=example, headers=auth)
    assert refused.status_code == 400 and "ID should not be specified" in refused.json()["message"]
    example.pop("id")
    created = client.post(BASE, json=example, headers=auth)
    assert created.status_code == 200
    record = created.json()
    assert record["id"] and record["sys_version"] == 1 and record["sys_created_at"].endswith("Z")


def test_get_by_id_honours_fields_and_consistent_read():
    system = System("rhythm", 3)
    client = TestClient(system.app)
    some_id = next(iter(system.stored()))
    answer = client.get(f"{BASE}/{some_id}", params={"fields": "id,name",
                                                      "consistentRead": "true"},
                        headers=token(client))
    assert set(answer.json()) == {"id", "name"}


def test_the_source_pages_with_exclusive_start_key_until_the_end():
    system = System("rhythm", 250)
    pages = list(system.source().pages())
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert len({r["id"] for p in pages for r in p.records}) == 250


def test_incremental_reads_search_on_last_modified():
    from datetime import UTC, datetime, timedelta

    system = System("rhythm", 20)
    later = (datetime.now(UTC) + timedelta(seconds=5))
    one = next(iter(system.stored()))
    system.app.state.tenant.records[one]["sys_last_modified_at"] = \
        (later + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    records = [r for p in system.source().pages(since=later) for r in p.records]
    assert [r["id"] for r in records] == [one]


def test_the_target_creates_with_our_key_and_updates_with_the_current_version():
    system = System("rhythm")
    target = system.target()
    payload = {"sys_external_id": "x:1", "name": "A", "course_id": "c", "timezone": "UTC",
               "start_date": "2026-01-01T10:00:00Z", "end_date": "2026-01-02T10:00:00Z",
               "capacity_options": {"capacity": 0}, "training_location_id": "l",
               "training_provider_id": "p"}
    (created,) = write(target, [payload], overwrite=False)
    assert created.ok and system.stored()[created.target_id]["sys_external_id"] == "x:1"
    system.app.state.tenant.records[created.target_id]["sys_version"] = 7  # someone edited
    (updated,) = write(target, [{**payload, "name": "B"}], overwrite=True,
                               target_ids=[created.target_id])
    assert updated.ok and system.stored()[created.target_id]["sys_version"] == 8
    assert system.stored()[created.target_id]["name"] == "B"


def test_a_record_created_by_a_run_that_died_is_found_by_its_external_id():
    system = System("rhythm")
    payload = {"sys_external_id": "x:9", "name": "A", "course_id": "c", "timezone": "UTC",
               "start_date": "2026-01-01T10:00:00Z", "end_date": "2026-01-02T10:00:00Z",
               "capacity_options": {"capacity": 3}, "training_location_id": "l",
               "training_provider_id": "p"}
    write(system.target(), [payload], overwrite=False)
    (again,) = write(system.target(), [payload], overwrite=False)  # a new run, no link
    assert again.ok and len(system.stored()) == 1


def test_a_bad_record_is_a_failed_result_naming_the_rule():
    (result,) = write(System("rhythm").target(), [{"sys_external_id": "x:2", "name": "A"}],
                                                 overwrite=False)
    assert not result.ok and "course_id is required" in result.message


def test_a_missing_record_says_missing_so_the_engine_creates_it():
    (result,) = write(System("rhythm").target(), [{"sys_external_id": "x:3"}], overwrite=True,
                                                 target_ids=["gone"])
    assert result.conflict == "missing"


def test_a_wrong_audience_is_refused():
    client = TestClient(rhythm.create_app())
    answer = client.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
        "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": "https://elsewhere"})
    assert answer.status_code == 403


def test_bad_credentials_are_a_typed_error():
    system = System("rhythm", 1)
    source = system.source()
    source.http.client.auth._secret = __import__("pydantic").SecretStr("wrong")
    with pytest.raises(Unauthorized):
        list(source.pages())
