"""SmarterProctoring connector against its emulator and the vendor's own examples."""

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.smarterproctoring import SmarterProctoringSettings, SmarterProctoringSource
from offering_sync.emulators import smarterproctoring as sp
from tests.conftest import fixture_json
from tests.systems import System, write

BASE = f"/v1/installs/{sp.DEMO_INSTALL}/courseOfferings"
AUTH = {"token": sp.DEMO_TOKEN}


def test_the_update_example_of_the_docs_is_accepted_unchanged_and_answered_as_documented():
    system = System("smarterproctoring", 1)
    client = TestClient(system.app)
    sid = next(iter(system.stored()))
    example = fixture_json("smarterproctoring", "update_request_example.json")
    answer = client.put(f"{BASE}/{sid}", json=example, headers=AUTH)
    assert answer.status_code == 200
    documented = fixture_json("smarterproctoring", "update_response_example.json")
    assert set(answer.json()) == set(documented)
    assert answer.json()["matchStrings"] == ["Fall 2024", "FA24"]


@pytest.mark.parametrize("path", ["/v1/installs/AI123/courseOfferings",
                                  f"{BASE}/CO-not-a-sid"])
def test_sids_are_validated_against_the_documented_patterns(path):
    answer = TestClient(sp.create_app()).put(path, json={"title": "t", "matchStrings": "t"},
                                             headers=AUTH) if "CO-" in path else \
        TestClient(sp.create_app()).get(path, headers=AUTH)
    assert answer.status_code == 400
    assert answer.json()["error"] == "Bad Request" and "pattern" in answer.json()["message"]


def test_dates_must_end_in_z():
    answer = TestClient(sp.create_app()).post(BASE, headers=AUTH, json={
        "title": "t", "matchStrings": "a", "startDate": "2026-01-01T00:00:00+01:00"})
    assert answer.status_code == 400 and "/.*Z/" in answer.json()["message"]


def test_the_source_follows_next_until_null():
    system = System("smarterproctoring", 230)
    pages = list(system.source().pages())
    assert [len(p.records) for p in pages] == [100, 100, 30]


def test_the_documented_list_envelope_is_read():
    envelope = {"total": 1, "first": "x", "next": None, "prev": None, "last": "x", "count": 1,
                "offset": 0, "results": [fixture_json("smarterproctoring",
                                                      "update_response_example.json")]}
    client = httpx.Client(transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json=envelope)), base_url="http://sp/")
    source = SmarterProctoringSource(HttpCaller(client, "smarterproctoring"),
                                     SmarterProctoringSettings(install_sid=sp.DEMO_INSTALL,
                                                               token=SecretStr("t")))
    (page,) = list(source.pages())
    assert page.records[0]["sid"] == "<string>"


def test_the_target_sends_the_token_header_and_match_strings_comma_separated():
    system = System("smarterproctoring")
    (result,) = write(system.target(), [{"_key": "x:1", "title": "Fall 2026",
                                         "matchStrings": "FA26,Fall 2026",
                                         "startDate": "2026-09-01T00:00:00.000Z",
                                         "endDate": None}], overwrite=False)
    assert result.ok and result.target_id.startswith("CO")
    assert system.stored()[result.target_id]["matchStrings"] == ["FA26", "Fall 2026"]


def test_a_hand_made_offering_with_the_same_title_is_never_taken_over():
    system = System("smarterproctoring", 2)
    hand_made_sid, hand_made = next(iter(system.stored().items()))
    before = dict(hand_made)
    (result,) = write(system.target(), [{"_key": "x:2", "title": hand_made["title"],
                                         "matchStrings": ["new"]}], overwrite=False)
    assert result.ok and result.action == "created" and result.target_id != hand_made_sid
    assert len(system.stored()) == 3
    assert system.stored()[hand_made_sid] == before
    assert system.stored()[result.target_id]["matchStrings"] == ["new"]


def test_an_install_sid_of_the_wrong_shape_is_a_setting_error():
    with pytest.raises(ValueError, match="AI followed by 32"):
        SmarterProctoringSettings(install_sid="AI123")


def _source_over(pages):
    """A source against a vendor that answers ``pages`` in turn; returns it and the offsets."""
    asked = []

    def vendor(request):
        asked.append(request.url.params.get("offset"))
        return httpx.Response(200, json=pages[min(len(asked) - 1, len(pages) - 1)])

    client = httpx.Client(transport=httpx.MockTransport(vendor), base_url="http://sp/")
    return SmarterProctoringSource(HttpCaller(client, "smarterproctoring"),
                                   SmarterProctoringSettings(install_sid=sp.DEMO_INSTALL,
                                                             token=SecretStr("t"),
                                                             page_size=2,
                                                             concurrency=1)), asked


def _offerings(*sids):
    return [{"sid": s, "title": s} for s in sids]


def test_the_first_call_sends_no_offset_as_the_docs_ask():
    source, asked = _source_over([{"next": None, "results": _offerings("a")}])
    list(source.pages())
    assert asked == [None]


def test_total_ends_the_listing_where_next_is_absent():
    source, asked = _source_over([{"total": 3, "results": _offerings("a", "b")},
                                  {"total": 3, "results": _offerings("c")}])
    assert [r["sid"] for p in source.pages() for r in p.records] == ["a", "b", "c"]
    assert asked == [None, "2"]


def test_without_next_or_total_the_listing_ends_on_an_empty_page():
    source, asked = _source_over([{"results": _offerings("a", "b")}, {"results": []}])
    assert [r["sid"] for p in source.pages() for r in p.records] == ["a", "b"]
    assert asked == [None, "2"]


def test_a_short_page_with_next_continues_from_the_next_link():
    source, asked = _source_over([
        {"next": "http://sp/x?offset=1&limit=2", "results": _offerings("a")},
        {"next": None, "results": _offerings("b", "c")}])
    assert [r["sid"] for p in source.pages() for r in p.records] == ["a", "b", "c"]
    assert asked == [None, "1"]


def test_a_bare_array_is_read_until_an_empty_page():
    source, _ = _source_over([_offerings("a", "b")] + [[]])
    assert [r["sid"] for p in source.pages() for r in p.records] == ["a", "b"]


def test_reading_the_emulator_stops_on_total_and_next_alike():
    system = System("smarterproctoring", 200)
    source = system.source()
    assert sum(len(p.records) for p in source.pages()) == 200
    # two pages; with CONCURRENCY=4 (the default) up to 3 guesses past the end are asked too
    assert 2 <= source.http.calls <= 2 + 3


def test_pages_read_together_follow_the_vendor_where_a_guess_was_wrong():
    """k pages in flight on the guess offset+limit; a short page moves asking to its next link."""
    listing = {0: ("a", "b", 2), 2: ("c", None, 3), 3: ("d", "e", 5), 5: ("f", None, None)}
    asked = []

    def vendor(request):
        offset = int(request.url.params.get("offset") or 0)
        asked.append(offset)
        first, second, following = listing.get(offset, (None, None, None))
        sids = [s for s in (first, second) if s]
        link = f"http://sp/x?offset={following}&limit=2" if following is not None else None
        return httpx.Response(200, json={"next": link, "results": _offerings(*sids)})

    client = httpx.Client(transport=httpx.MockTransport(vendor), base_url="http://sp/")
    source = SmarterProctoringSource(HttpCaller(client, "smarterproctoring"),
                                     SmarterProctoringSettings(install_sid=sp.DEMO_INSTALL,
                                                               token=SecretStr("t"), page_size=2,
                                                               concurrency=3))
    pages = list(source.pages())
    assert [r["sid"] for p in pages for r in p.records] == ["a", "b", "c", "d", "e", "f"]
    assert [p.checkpoint for p in pages] == ["2", "3", "5", "6"]
    assert {0, 2, 3, 5} <= set(asked)
