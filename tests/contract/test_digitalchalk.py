"""DigitalChalk source against its emulator, and against the vendor's own examples."""

from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from offering_sync.connectors.digitalchalk import DigitalChalkSettings, DigitalChalkSource
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.emulators.digitalchalk import Catalog, create_app
from offering_sync.errors import Rejected, Unauthorized
from tests.conftest import dc_source, fast_retry, fixture_json


def all_records(source, **kw):
    return [r for page in source.pages(**kw) for r in page.records]


def test_paging_ends_and_returns_every_offering_once(dc_app):
    records = all_records(dc_source(dc_app, page_size=100))
    assert len(records) == 250
    assert len({r["id"] for r in records}) == 250


def test_each_page_asks_for_at_most_the_vendor_maximum(dc_app):
    source = dc_source(dc_app, page_size=100, concurrency=1)
    pages = list(source.pages())
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert source.http.calls == 3


def test_pages_read_together_come_in_order_and_guess_at_most_k_minus_1_past_the_end(dc_app):
    source = dc_source(dc_app, page_size=100, concurrency=4)
    pages = list(source.pages())
    assert [p.checkpoint for p in pages] == ["100", "200", "250"]
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert 3 <= source.http.calls <= 3 + 3


def test_resume_continues_after_the_checkpoint_without_repeats(dc_app):
    source = dc_source(dc_app, page_size=100)
    first = next(iter(source.pages()))
    rest = all_records(source, resume=first.checkpoint)
    ids = [r["id"] for r in first.records] + [r["id"] for r in rest]
    assert len(ids) == len(set(ids)) == 250


def test_the_two_offering_example_of_the_docs_parses_exactly():
    """The vendor's Get-offerings example is a bare array with omitted fields."""
    example = fixture_json("digitalchalk", "get_offerings_example.json")
    app = create_app(Catalog(0), envelope=False)
    app.state.catalog.add(example)
    assert all_records(dc_source(app, page_size=15)) == example


def test_a_bare_array_full_page_is_followed_by_the_next_offset():
    app = create_app(Catalog(30), envelope=False)
    assert len(all_records(dc_source(app, page_size=10))) == 30


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("listing", ["envelope", "array"])
@pytest.mark.parametrize("short_pages", [True, False])
def test_all_1000_offerings_are_read_whatever_the_pages_hold(listing, short_pages, concurrency):
    """Issue 9.6: a short page ended the bare-array listing at 299 of 1,000."""
    app = create_app(Catalog(1000, seed=9), listing=listing, short_pages=short_pages)
    source = dc_source(app, page_size=100, concurrency=concurrency)
    pages = list(source.pages())
    ids = [r["id"] for page in pages for r in page.records]
    assert len(ids) == len(set(ids)) == 1000
    if short_pages:
        assert any(len(p.records) < 100 for p in pages[:-1])  # short pages before the end
    # the end signal: no ``next`` in the envelope; an empty page for a bare array
    expected = len(pages) + (listing == "array")
    if concurrency == 1:
        assert source.http.calls == expected
    else:  # wrong guesses (short pages, the end) cost at most 3 (k - 1) extra GETs
        assert expected <= source.http.calls <= expected + 3 * (concurrency - 1)


def test_the_envelope_ends_where_next_is_absent_even_on_a_full_page():
    app = create_app(Catalog(200))
    source = dc_source(app, page_size=100, concurrency=1)
    assert [len(p.records) for p in source.pages()] == [100, 100]
    assert source.http.calls == 2


def test_a_short_envelope_page_with_next_is_followed_from_the_link():
    app = create_app(Catalog(50), short_pages=True)
    first = dc_source(app, page_size=40).http.client.get(
        "offerings", params={"limit": 40, "offset": 0}).json()
    assert len(first["results"]) < 40 and f"offset={len(first['results'])}" in first["next"]
    assert len(all_records(dc_source(app, page_size=40))) == 50


def test_created_date_window_selects_by_creation(dc_app):
    since = datetime(2024, 1, 1, 1, 0, tzinfo=UTC)   # records are created 7 minutes apart
    until = datetime(2024, 1, 1, 1, 59, 59, tzinfo=UTC)
    records = all_records(dc_source(dc_app), since=since, until=until)
    assert records and all("2024-01-01T01:" in r["createdDate"] for r in records)


@pytest.mark.parametrize("setting,value", [("title", "Ethics"), ("tag", "core")])
def test_filters_are_sent_to_the_vendor(dc_app, setting, value):
    records = all_records(dc_source(dc_app, **{setting: value}))
    assert records
    if setting == "title":
        assert all("ethics" in r["title"].lower() for r in records)
    else:
        assert all("core" in r["tags"] for r in records)


def test_a_wrong_token_is_a_typed_error_with_the_vendor_body(dc_app):
    with pytest.raises(Unauthorized) as info:
        all_records(dc_source(dc_app, token="wrong-token-123"))
    assert info.value.status == 401
    assert "invalid_token" in info.value.vendor_message
    assert "wrong-token-123" not in str(info.value)


def test_a_page_size_over_the_vendor_maximum_is_refused_by_settings():
    with pytest.raises(ValueError):
        DigitalChalkSettings(page_size=101)


def test_the_emulator_refuses_writes_to_offerings(dc_app):
    source = dc_source(dc_app)
    with pytest.raises(Rejected) as info:
        source.http.send("POST", "offerings", idempotent=False, json={"title": "x"})
    assert info.value.status == 405


def test_retry_after_is_honoured_on_429():
    """A handler that says 429 once, with Retry-After, then answers."""

    class Once429:
        calls = 0

        def __call__(self, request):
            Once429.calls += 1
            if Once429.calls == 1:
                return httpx.Response(429, headers={"Retry-After": "0.01"}, json={"errors": []})
            return httpx.Response(200, json={"results": [{"id": "a", "title": "t",
                                                          "orderIndex": 0}]})

    waits = []
    retry = fast_retry()
    retry.sleep = waits.append
    client = httpx.Client(transport=httpx.MockTransport(Once429()), base_url="http://dc/")
    source = DigitalChalkSource(HttpCaller(client, "digitalchalk", retry=retry),
                                DigitalChalkSettings(token=SecretStr("t")))
    assert [r["id"] for r in all_records(source)] == ["a"]
    assert waits == [0.01]


def test_non_object_items_are_reported_not_dropped():
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"results": [{"id": "a", "title": "t"}, 42]})),
        base_url="http://dc/")
    source = DigitalChalkSource(HttpCaller(client, "digitalchalk"),
                                DigitalChalkSettings(token=SecretStr("t")))
    (page,) = list(source.pages())
    assert len(page.records) == 1 and len(page.bad) == 1
