"""Open load groups (issue 17) under failure: no hang, no record lost, none written twice at once.

The engine's group step takes batches while it loads and ends once sealed. These tests drive the
loader's step and the whole engine (a scripted source of pages, mapping replaced by ``item``)
through the paths where the main thread stops early or the target gives up mid-group. Every
engine run happens in a thread joined with a timeout, so a step waiting for a seal that never
comes fails the test instead of hanging the suite.
"""

import logging
import threading
import time
from types import SimpleNamespace

import pytest

from offering_sync.engine.load import Loader
from offering_sync.engine.options import Pipeline, SyncOptions
from offering_sync.engine.run import _Run
from offering_sync.errors import LockLost, QuotaExhausted, TransientError
from offering_sync.records import LoadResult, Page
from offering_sync.state import StateStore
from tests.unit.test_engine_rules import Scripted, item, make_run
from tests.unit.test_load_rules import created, group_of, retrying

_TIMEOUT = 20


def ok(batch):
    return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]


# -- the loader's step: what a used-up quota leaves for the run to fail -------------------------


def test_a_quota_on_a_retry_keeps_batches_that_failed_on_an_earlier_attempt(tmp_path):
    """Attempt 1: both batches time out. Attempt 2: the first meets the quota, so the second
    is not sent again. It was tried (attempt 1) but never loaded: it must go back to pending
    (then a dead letter), not vanish. ``Group.tried`` outlives the attempt, unlike the local
    ``tried`` set the step kept before open groups."""
    calls = {"n": 0}

    def answer(batch, overwrite):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise TransientError("timeout", system="tgt")
        raise QuotaExhausted("daily limit", system="tgt")

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    run.run_group = retrying(3)
    group = group_of(("b1", [item("1")], False), ("b2", [item("2")], False))
    with pytest.raises(QuotaExhausted):
        Loader(run, 1).guarded_group(group)
    assert created(target) == ["src:1", "src:2", "src:1"]
    assert sorted(run.pending[False]) == ["1", "2"]  # 2 was neither loaded nor dead-lettered


@pytest.mark.parametrize("in_flight", [1, 2])
def test_a_quota_keeps_a_batch_that_failed_transiently_in_the_same_attempt(tmp_path, in_flight):
    """A batch that timed out is not loaded; when another meets the quota the step stops
    without a retry, so the timed-out batch must go back to pending like the unsent ones."""
    both = threading.Barrier(in_flight, timeout=5)

    def answer(batch, overwrite):
        both.wait()  # with two in flight, both batches are sent before either answers
        if batch[0].key == "src:1":
            raise TransientError("timeout", system="tgt")
        raise QuotaExhausted("daily limit", system="tgt")

    run = make_run(tmp_path, Scripted(answer=answer))
    group = group_of(("b1", [item("1")], False), ("b2", [item("2")], False))
    with pytest.raises(QuotaExhausted):
        Loader(run, in_flight).guarded_group(group)
    assert sorted(run.pending[False]) == ["1", "2"]


# -- the engine: a run that stops early ends, and accounts for every record --------------------


def engine(tmp_path, target: Scripted, in_flight: int = 2, **options) -> _Run:
    """A run whose mapping is ``item``: a page of ``{"id": n}`` becomes items ``n``."""
    target.batches_in_flight = in_flight  # type: ignore[attr-defined]
    source = SimpleNamespace(system="src", id_field="id", supports_modified_since=False,
                             lists_everything=False)
    mapping = SimpleNamespace(ownership={}, digest="d")
    store = StateStore(f"sqlite:///{tmp_path / 'engine.db'}")
    run = _Run(Pipeline(source, target, mapping, mapping), store,  # type: ignore[arg-type]
               SyncOptions(**options), lambda _label, step: step(), None,
               logging.getLogger("t"))
    run._prepare = lambda raw, sid, *_rest: item(sid)  # type: ignore[method-assign]
    return run


def pages(count: int, per_page: int = 4, *, fail_at: int | None = None,
          error: BaseException | None = None):
    for number in range(count):
        if number == fail_at:
            assert error is not None
            raise error
        yield Page([{"id": str(number * per_page + n)} for n in range(per_page)])


def execute(run: _Run, records) -> tuple[object, BaseException | None]:
    """Run the engine in a thread; a run still going after the timeout is a hang."""
    out: dict[str, object] = {}

    def go() -> None:
        try:
            out["summary"] = run.execute(records)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(_TIMEOUT)
    assert not thread.is_alive(), "the run hangs: a group step waits for a seal"
    return out.get("summary"), out.get("error")  # type: ignore[return-value]


def slow(seconds: float = 0.05):
    def answer(batch, overwrite):
        time.sleep(seconds)
        return ok(batch)
    return answer


@pytest.mark.parametrize("in_flight", [1, 3])
@pytest.mark.parametrize("error", [RuntimeError("store gone"), LockLost("lost the lock"),
                                   KeyboardInterrupt()])
def test_a_run_stopping_while_a_group_is_open_ends(tmp_path, in_flight, error):
    run = engine(tmp_path, Scripted(max_batch=2, answer=slow()), in_flight)
    run.group_size = 8  # a grown group: open across pages when the main thread stops
    summary, raised = execute(run, pages(4, fail_at=2, error=error))
    assert summary is None and type(raised) is type(error)


@pytest.mark.parametrize("in_flight", [1, 3])
def test_a_source_quota_while_a_group_is_open_fails_what_was_not_loaded(tmp_path, in_flight):
    target = Scripted(max_batch=3, answer=slow())
    run = engine(tmp_path, target, in_flight)
    run.group_size = 8
    summary, raised = execute(run, pages(4, per_page=4, fail_at=3,
                                         error=QuotaExhausted("source limit", system="src")))
    assert raised is None and summary.status == "stopped"
    assert summary.counts.created + summary.counts.failed == 12


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_a_target_quota_mid_run_loads_or_fails_every_record_once(tmp_path, in_flight):
    """Whatever was read but not loaded when the quota ran out is a dead letter."""
    lock = threading.Lock()
    sent = {"batches": 0}

    def answer(batch, overwrite):
        with lock:
            sent["batches"] += 1
            over = sent["batches"] > 3
        time.sleep(0.02)
        if over:
            raise QuotaExhausted("daily limit", system="tgt")
        return ok(batch)

    run = engine(tmp_path, Scripted(max_batch=2, answer=answer), in_flight)
    run.group_size = 4
    summary, raised = execute(run, pages(6, per_page=4))
    assert raised is None and summary.status == "stopped"
    linked = run.store.links_for("src", "tgt", [str(n) for n in range(24)])
    letters = {d.source_id for d in run.store.dead_letters()}
    read = {str(n) for n in range(summary.counts.extracted)}  # it stops reading at the quota
    assert not set(linked) & letters and set(linked) | letters == read
    assert (summary.counts.created, summary.counts.failed) == (len(linked), len(letters))


def test_a_dry_run_with_an_open_group_ends(tmp_path):
    target = Scripted(max_batch=2, answer=slow())
    summary, raised = execute(engine(tmp_path, target, 3, dry_run=True), pages(3))
    assert raised is None and summary.counts.created == 12 and target.calls == []


def test_a_record_met_twice_is_never_written_by_two_batches_at_once(tmp_path):
    """Offset paging may repeat records: the repeat goes to the next group, after this one."""
    lock = threading.Lock()
    writing: set[str] = set()
    clashes: list[str] = []

    def answer(batch, overwrite):
        keys = [r.key for r in batch]
        with lock:
            clashes.extend(k for k in keys if k in writing)
            writing.update(keys)
        time.sleep(0.03)
        with lock:
            writing.difference_update(keys)
        return ok(batch)

    def repeating():
        for number in range(6):  # each page repeats two records of the page before
            start = number * 2
            yield Page([{"id": str(n)} for n in range(start, start + 4)])

    run = engine(tmp_path, Scripted(max_batch=2, answer=answer), 3)
    run.group_size = 6
    summary, raised = execute(run, repeating())
    assert raised is None and clashes == []
    assert summary.counts.failed == 0
