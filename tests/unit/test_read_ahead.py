"""The reader runs ahead of the mapper by a budget of records (issue 17), and no further."""

import itertools
import threading
import time

import pytest

from offering_sync.engine.run import _records_in
from offering_sync.pipelining import read_ahead
from offering_sync.records import Page


def listing(make_page, fetched: list[int]):
    for number in itertools.count():
        fetched[0] += 1
        if number > 2_000:
            return
        yield make_page(number)


def ahead(make_page, budget: int = 1_000) -> int:
    """How many pages the reader fetched while the consumer held the first one."""
    fetched = [0]
    pages = read_ahead(listing(make_page, fetched), budget=budget, size=_records_in)
    next(pages)
    time.sleep(0.3)
    pages.close()
    return fetched[0]


def test_the_reader_stops_a_budget_of_records_ahead():
    assert ahead(lambda n: Page([{"id": f"{n}-{i}"} for i in range(100)])) <= 1 + 10 + 1


def test_undecodable_records_count_against_the_budget_too():
    """A listing of undecodable records (a vendor format change) was read whole into memory:
    a page of them counted as no records, so the budget never filled."""
    assert ahead(lambda n: Page([], bad=[(f"{n}-{i}", "undecodable", "x" * 200)
                                         for i in range(100)])) <= 1 + 10 + 1


def test_an_error_of_the_listing_reaches_the_consumer():
    def failing():
        yield Page([{"id": "1"}])
        raise RuntimeError("source gone")

    pages = read_ahead(failing(), budget=10, size=_records_in)
    assert next(pages).records == [{"id": "1"}]
    with pytest.raises(RuntimeError, match="source gone"):
        next(pages)


def test_a_consumer_that_stops_early_stops_the_reader():
    before = {t.ident for t in threading.enumerate()}
    pages = read_ahead(listing(lambda n: Page([{"id": n}]), [0]), budget=5, size=_records_in)
    next(pages)
    pages.close()
    time.sleep(0.3)
    assert not [t for t in threading.enumerate()
                if t.name == "read-ahead" and t.ident not in before and t.is_alive()]
