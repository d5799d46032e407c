"""Two pipelines between the same two systems, one each way: the offerings of each side are
copied once to the other, and nothing is ever copied back (found by an outside tester against
strict stand-ins: each pass created the other side's copies again, 4/2, 6/4, 8/6, …)."""

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.engine import sync_pipeline
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.systems import System


def _sync(store: StateStore, source: System, target: System):
    pipeline = build_pipeline(source.name, target.name, CoreSettings(),
                              source_connector=source.source(),
                              target_connector=target.target())
    return sync_pipeline(pipeline, store, CoreSettings().options())


@pytest.mark.parametrize(("a", "b"), [("rhythm", "smarterproctoring"),
                                      ("smarterproctoring", "rhythm"),
                                      ("rhythm", "salesforce")])
def test_a_two_way_sync_settles_after_one_round(a, b, sqlite_url):
    one, other = System(a, 2), System(b, 3 if b != "salesforce" else 0)
    store = StateStore(sqlite_url)
    start = (len(one.stored()), len(other.stored()))
    first = _sync(store, one, other)
    back = _sync(store, other, one)
    assert first.counts.created == start[0]
    assert back.counts.created == start[1]  # only the other side's own offerings
    assert back.counts.skipped == start[0]  # the copies just written are not sent back
    settled = (len(one.stored()), len(other.stored()))
    assert settled == (start[0] + start[1], start[0] + start[1])
    for _ in range(3):  # scheduled runs both ways: nothing more is created anywhere
        again, again_back = _sync(store, one, other), _sync(store, other, one)
        assert again.counts.created == again_back.counts.created == 0
        assert (again.counts.failed, again_back.counts.failed) == (0, 0)
    assert (len(one.stored()), len(other.stored())) == settled
