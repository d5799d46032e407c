"""Rhythm connector against its emulator and the vendor's own examples."""

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.rhythm import LIST_FIELDS, RhythmSettings, RhythmSource
from offering_sync.emulators import rhythm
from offering_sync.errors import Rejected, Unauthorized
from offering_sync.mapping.loader import load_mapping
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
    """The docs' example omits ``eligibility_requirements``, which their schema requires: the
    emulator holds to the schema, so the example is completed with an empty object."""
    app = rhythm.create_app()
    client = TestClient(app)
    auth = token(client)
    example = {**fixture_json("rhythm", "create_request_example.json"),
               "eligibility_requirements": {}}
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


@pytest.mark.parametrize("paging", ["object", "string"])
def test_the_source_reads_past_page_one_with_either_key_shape(paging):
    system = System("rhythm", 250, paging=paging)
    pages = list(system.source().pages())
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert len({r["id"] for p in pages for r in p.records}) == 250


@pytest.mark.parametrize("paging", ["object", "string"])
def test_resume_from_a_checkpoint_continues_without_repeats(paging):
    system = System("rhythm", 250, paging=paging)
    first = next(iter(system.source().pages()))
    rest = [r["id"] for p in system.source().pages(resume=first.checkpoint) for r in p.records]
    ids = [r["id"] for r in first.records] + rest
    assert len(ids) == len(set(ids)) == 250


def test_a_bare_array_listing_is_read_as_one_page():
    pages = list(System("rhythm", 130, paging="array").source().pages())
    assert [len(p.records) for p in pages] == [130]


@pytest.mark.parametrize("key,sent", [
    ({"tenant_id": "t", "id": "a b"}, '{"tenant_id":"t","id":"a b"}'),
    ({"id": "x", "tenant_id": "t"}, '{"id":"x","tenant_id":"t"}'),  # the server's order kept
    ("opaque/+==", "opaque/+=="),
])
def test_the_paging_key_goes_back_exactly_as_the_server_gave_it(key, sent):
    seen = []

    def vendor(request):
        seen.append(request.url.params.get("exclusiveStartKey"))
        if len(seen) == 1:
            return httpx.Response(200, json={"Count": 1, "Items": [{"id": "1"}],
                                             "LastEvaluatedKey": key})
        return httpx.Response(200, json={"Count": 1, "Items": [{"id": "2"}]})

    client = httpx.Client(transport=httpx.MockTransport(vendor), base_url="http://rhythm/")
    source = RhythmSource(HttpCaller(client, "rhythm"), RhythmSettings(tenant_id="t"))
    assert [r["id"] for p in source.pages() for r in p.records] == ["1", "2"]
    assert seen == [None, sent]


def test_a_key_that_does_not_advance_is_an_error_not_a_silent_end():
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={
        "Count": 1, "Items": [{"id": "1"}], "LastEvaluatedKey": "same"})), base_url="http://r/")
    source = RhythmSource(HttpCaller(client, "rhythm"), RhythmSettings(tenant_id="t"))
    with pytest.raises(Rejected, match="did not advance"):
        list(source.pages())


def test_incremental_reads_use_only_the_listing_and_keep_what_changed_since():
    system = System("rhythm", 150)
    later = datetime.now(UTC) + timedelta(seconds=5)
    one = next(iter(system.stored()))
    system.app.state.tenant.records[one]["sys_last_modified_at"] = \
        (later + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    source = system.source()
    records = [r for p in source.pages(since=later) for r in p.records]
    assert [r["id"] for r in records] == [one]
    assert source.http.calls == 2  # the two pages of the listing, nothing else


def test_the_listing_asks_only_for_what_the_mapping_reads_and_keeps_versions():
    record = next(iter(System("rhythm", 3).source().pages())).records[0]
    assert set(record) <= set(LIST_FIELDS)
    assert {"id", "sys_version", "sys_last_modified_at"} <= set(record)
    assert "fee_id" not in record and "eligibility_requirements" not in record


def test_list_fields_cover_every_field_the_shipped_mapping_reads():
    spec = load_mapping(MAPPINGS_DIR / "rhythm_to_canonical.yaml").spec
    read = {path for rule in spec.fields.values()
            for path in [rule.from_, *(rule.coalesce or [])] if path}
    tops = {re.split(r"[.\[]", path)[0] for path in read}
    assert tops <= set(LIST_FIELDS)


def test_the_target_creates_with_our_key_and_updates_with_the_current_version():
    system = System("rhythm")
    target = system.target()
    payload = {"sys_external_id": "x:1", "name": "A", "course_id": "c", "timezone": "UTC",
               "start_date": "2026-01-01T10:00:00Z", "end_date": "2026-01-02T10:00:00Z",
               "capacity_options": {"capacity": 0}, "training_location_id": "l",
               "training_provider_id": "p", "credits_to_assign": [],
               "eligibility_requirements": {}}
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
               "training_provider_id": "p", "credits_to_assign": [],
               "eligibility_requirements": {}}
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


def test_a_wrong_audience_is_refused_with_401_as_the_troubleshooting_page_says():
    client = TestClient(rhythm.create_app())
    answer = client.post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
        "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": "https://elsewhere"})
    assert answer.status_code == 401 and answer.json()["error"] == "access_denied"


def test_bad_credentials_are_a_typed_error():
    system = System("rhythm", 1)
    source = system.source()
    source.http.client.auth._secret = __import__("pydantic").SecretStr("wrong")
    with pytest.raises(Unauthorized):
        list(source.pages())
