"""More of the loader's data rules: groups of batches, bisecting, the flip, what is recorded.

Found by mutation testing (docs/mutation.md): each test here failed on a change to the loader
that the other tests let through. Groups decide which batches a retried step sends again (a
batch sent twice is a record created twice) and which become dead letters; the rest pin what a
request carries and what the sync log and the dead letters say about each record.
"""

import contextvars
import threading
import time
from dataclasses import dataclass
from decimal import Decimal

import pytest

from offering_sync.engine.load import Group, Loader, SystemicFailure
from offering_sync.errors import QuotaExhausted, Rejected, TransientError
from offering_sync.records import LoadResult
from offering_sync.state import Link
from tests.unit.test_engine_rules import (
    RUN,
    Scripted,
    item,
    links,
    make_run,
    open_letters,
    retired_with_one_failure,
)


def retrying(attempts: int):
    """A group step retried on transient errors, as the Prefect task does."""
    def run_group(_label, step):
        for attempt in range(1, attempts + 1):
            try:
                return step()
            except TransientError:
                if attempt == attempts:
                    raise
        return None
    return run_group


def group_of(*batches: tuple[str, list, bool]) -> Group:
    group = Group()
    for label, batch, overwrite in batches:
        group.add(label, batch, overwrite)
    return group


def created(target: Scripted) -> list[str]:
    """Keys the target was asked to create, in order, one entry per request."""
    return [r.key for batch, overwrite in target.calls if not overwrite for r in batch]


# -- groups --------------------------------------------------------------------------------------


def test_a_group_never_holds_one_record_twice():
    group = group_of(("b1", [item("1", "ext:a")], False))
    assert group.overlaps([item("1", "ext:b")])  # the same source record
    assert group.overlaps([item("2", "ext:a")])  # the same external id
    assert not group.overlaps([item("2", "ext:b")])


@pytest.mark.parametrize("in_flight", [1, 2])
def test_a_retried_group_sends_only_the_batches_not_yet_committed(tmp_path, in_flight):
    flaky = {"src:2": 1}

    def answer(batch, overwrite):
        for r in batch:
            if flaky.get(r.key):
                flaky[r.key] -= 1
                raise TransientError("timeout", system="tgt")
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    run.run_group = retrying(3)
    group = group_of(("b1", [item("1")], False), ("b2", [item("2")], False),
                     ("b3", [item("3")], False))
    Loader(run, in_flight).guarded_group(group)
    assert sorted(created(target)) == ["src:1", "src:2", "src:2", "src:3"]
    if in_flight == 1:  # one batch failing does not stop the batches after it
        assert created(target) == ["src:1", "src:2", "src:3", "src:2"]
    assert sorted(links(run)) == ["1", "2", "3"] and open_letters(run) == {}
    assert group.done == {0, 1, 2}


@pytest.mark.parametrize("in_flight", [1, 2])
def test_batches_still_failing_after_retries_become_dead_letters_with_their_own_error(
        tmp_path, in_flight):
    def answer(batch, overwrite):
        if batch[0].key in ("src:2", "src:3"):
            raise TransientError(f"timeout on {batch[0].key}", system="tgt")
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer))
    run.run_group = retrying(2)
    Loader(run, in_flight).guarded_group(group_of(
        ("b1", [item("1")], False), ("b2", [item("2")], False), ("b3", [item("3")], False)))
    assert sorted(links(run)) == ["1"]
    letters = open_letters(run)
    assert sorted(letters) == ["2", "3"]
    assert "not loaded after retries" in letters["2"] and "timeout on src:2" in letters["2"]
    assert "timeout on src:3" in letters["3"]
    assert run.totals()["failed"] == 2


@pytest.mark.parametrize("in_flight", [1, 2])
def test_a_refusal_that_stops_the_run_is_raised_from_a_group(tmp_path, in_flight):
    def answer(batch, overwrite):
        if batch[0].key == "src:1":
            raise Rejected("unauthorized", system="tgt", status=401)
        time.sleep(0.05)
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    group = group_of(*((f"b{n}", [item(str(n))], False) for n in range(1, 5)))
    with pytest.raises(SystemicFailure, match="HTTP 401"):
        Loader(run, in_flight).guarded_group(group)
    # nothing is sent after the refusal was seen: at most the batches already in flight
    assert "src:1" in created(target) and len(created(target)) <= in_flight
    assert open_letters(run) == {}


def test_a_used_up_quota_in_a_group_keeps_every_batch_not_loaded_for_later(tmp_path):
    def answer(batch, overwrite):
        if batch[0].key == "src:2":
            raise QuotaExhausted("daily limit", system="tgt")
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    group = group_of(("b1", [item("1")], False), ("b2", [item("2")], False),
                     ("b3", [item("3")], False))
    with pytest.raises(QuotaExhausted):
        Loader(run).guarded_group(group)
    assert sorted(run.pending[False]) == ["2", "3"]  # 1 is loaded: it must not be sent again
    assert created(target) == ["src:1", "src:2"] and sorted(links(run)) == ["1"]


class Overlap:
    """Counts how many sends are in flight at once."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most = 0
        self.barrier = barrier

    def answer(self, batch, overwrite):
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            if self.barrier is not None:
                self.barrier.wait()
            time.sleep(0.02)
        finally:
            with self.lock:
                self.active -= 1
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]


def test_batches_of_a_group_are_sent_in_parallel_up_to_in_flight(tmp_path):
    pair = Overlap(threading.Barrier(2, timeout=5))  # both batches of two must be in flight
    run = make_run(tmp_path, Scripted(answer=pair.answer))
    Loader(run, 2).guarded_group(group_of(("b1", [item("1")], False),
                                          ("b2", [item("2")], False)))
    assert sorted(links(run)) == ["1", "2"]

    many = Overlap()
    run = make_run(tmp_path, Scripted(answer=many.answer), db="many.db")
    Loader(run, 2).guarded_group(group_of(*((f"b{n}", [item(str(n))], False)
                                            for n in range(1, 6))))
    assert many.most == 2 and sorted(links(run)) == ["1", "2", "3", "4", "5"]


def test_batches_in_flight_run_in_the_caller_s_context(tmp_path):
    """A flow run's context (Prefect's run, the log scope) reaches every batch's thread."""
    scope: contextvars.ContextVar[str] = contextvars.ContextVar("scope")
    seen: list[str] = []
    run = make_run(tmp_path, Scripted(answer=Overlap().answer))
    run.run_batch = lambda label, step: (seen.append(scope.get("none")), step())[1]
    scope.set("flow-run-7")
    Loader(run, 2).guarded_group(group_of(*((f"b{n}", [item(str(n))], False)
                                            for n in range(1, 4))))
    assert seen == ["flow-run-7"] * 3


@pytest.mark.parametrize("in_flight", [None, 0, 1])
def test_without_in_flight_a_group_sends_one_batch_at_a_time(tmp_path, in_flight):
    one = Overlap()
    run = make_run(tmp_path, Scripted(answer=one.answer))
    loader = Loader(run) if in_flight is None else Loader(run, in_flight)
    loader.guarded_group(group_of(*((f"b{n}", [item(str(n))], False) for n in range(1, 4))))
    assert one.most == 1 and sorted(links(run)) == ["1", "2", "3"]


@pytest.mark.parametrize("in_flight", [1, 3])
def test_an_open_group_sends_each_batch_as_it_comes_and_ends_once_sealed(tmp_path, in_flight):
    """The engine's groups take batches while they load: none waits for its group to fill."""
    sent = threading.Event()

    def answer(batch, overwrite):
        sent.set()
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer))
    loader = Loader(run, in_flight)
    group = Group(sealed=False)
    group.add("create-batch-1", [item("1")], False)
    step = threading.Thread(target=loader.guarded_group, args=(group,))
    step.start()
    assert sent.wait(5), "the first batch waited for its group to fill"
    for n in (2, 3):
        assert group.add(f"create-batch-{n}", [item(str(n))], False)
    time.sleep(0.05)
    assert step.is_alive()  # not sealed: it waits for more
    group.seal()
    step.join(5)
    assert not step.is_alive() and group.done == {0, 1, 2}
    assert sorted(links(run)) == ["1", "2", "3"] and group.label == "create-batches-1-3"
    assert not group.add("create-batch-4", [item("4")], False)  # ended: a new group takes it


def test_a_quota_used_up_in_an_open_group_keeps_batches_added_later_for_later(tmp_path):
    def answer(batch, overwrite):
        raise QuotaExhausted("daily limit", system="tgt")

    run = make_run(tmp_path, Scripted(answer=answer))
    group = Group(sealed=False)
    group.add("b1", [item("1")], False)
    with pytest.raises(QuotaExhausted):
        Loader(run).guarded_group(group)  # stops at once: it does not wait to be sealed
    assert group.closed and not group.add("b2", [item("2")], False)
    assert sorted(run.pending[False]) == ["1"]


def test_after_a_group_stopped_the_run_the_next_group_sends_nothing(tmp_path):
    def answer(batch, overwrite):
        raise Rejected("unauthorized", system="tgt", status=401)

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    loader = Loader(run)
    with pytest.raises(SystemicFailure):
        loader.guarded_group(group_of(("b1", [item("1")], False)))
    with pytest.raises(SystemicFailure):
        loader.guarded_group(group_of(("b2", [item("2")], False)))
    assert created(target) == ["src:1"]


# -- what a request carries ----------------------------------------------------------------------


def test_a_request_carries_what_the_store_knows_of_the_record_and_the_run_s_policy(tmp_path):
    target = Scripted(upsert_key=True)
    policies = []
    original = target.upsert

    def spy(batch, *, overwrite, policy):
        policies.append(policy)
        return original(batch, overwrite=overwrite, policy=policy)

    target.upsert = spy
    run = make_run(tmp_path, target)
    Loader(run).load([item("1", target_id="T1", written_hash="h0", target_version="v7",
                           revive=True, defaulted=("code",))], True, "b1")
    (request,) = target.calls[0][0]
    assert (request.target_id, request.written_hash, request.target_version) == ("T1", "h0", "v7")
    assert request.revive is True and request.defaulted == ("code",)
    assert policies == [run.policy]


def test_an_interrupted_create_is_handed_back_with_when_it_was_recorded(tmp_path):
    run = make_run(tmp_path)
    run.store.record_intents(run.name, RUN, [("src:1", {"title": "T1"})])
    recorded = run.store.open_intents(run.name, ["src:1"])["src:1"]
    Loader(run).load([item("1")], False, "b1")
    (request,) = run.p.target.calls[0][0]
    assert request.intent is not None
    assert request.intent.recorded_at == recorded.created_at  # the target searches from then


def test_a_create_records_its_intent_even_when_the_mapping_merges_a_field(tmp_path):
    run = make_run(tmp_path, ownership={"tags": "merge"})
    run.p.target.answer = lambda batch, overwrite: (_ for _ in ()).throw(
        TransientError("lost", system="tgt"))
    with pytest.raises(TransientError):
        Loader(run).load([item("1")], False, "b1")
    assert list(run.store.open_intents(run.name, ["src:1"])) == ["src:1"]


def test_a_batch_whose_records_all_clash_sends_nothing(tmp_path):
    run = make_run(tmp_path)
    run.store.record_batch(run_id=RUN, pipeline=run.name, source="src", target="tgt",
                           loaded=[Link("1", "src:shared", "T1", "h1")], failed=[])
    assert Loader(run).load([item("2", "src:shared")], False, "b1") == {"failed": 1}
    assert run.p.target.calls == []


@dataclass
class Plain:
    """A target that declares no identity fields at all (the attribute is optional)."""

    system: str = "tgt"
    max_batch: int = 100
    upsert_key: bool = False
    gone: bool = False

    def upsert(self, batch, *, overwrite, policy):
        if overwrite and self.gone:
            return [LoadResult(r.key, ok=False, conflict="missing") for r in batch]
        if not overwrite:
            raise TransientError("lost", system="tgt")
        return [LoadResult(r.key, ok=True, target_id="T") for r in batch]


@pytest.mark.parametrize("gone", [False, True])
def test_a_target_without_identity_fields_fingerprints_the_whole_payload(tmp_path, gone):
    run = make_run(tmp_path, Plain(gone=gone))  # type: ignore[arg-type]
    first = item("1", target_id="T-old") if gone else item("1")
    with pytest.raises(TransientError):
        Loader(run).load([first], gone, "b1")
    intent = run.store.open_intents(run.name, ["src:1"])["src:1"]
    assert intent.fingerprint == {"title": "T1", "code": "1"}


def test_a_record_gone_from_the_target_is_created_with_an_intent_of_its_identity_fields(
        tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            return [LoadResult(r.key, ok=False, conflict="missing") for r in batch]
        raise TransientError("lost", system="tgt")

    run = make_run(tmp_path, Scripted(answer=answer, identity_fields=("title",)))
    with pytest.raises(TransientError):
        Loader(run).load([item("1", target_id="T-old")], True, "b1")
    assert run.store.open_intents(run.name, ["src:1"])["src:1"].fingerprint == {"title": "T1"}


# -- bisecting and the flip ----------------------------------------------------------------------


def test_a_refused_update_batch_is_bisected_into_updates(tmp_path):
    def answer(batch, overwrite):
        if any(r.key == "src:3" for r in batch):
            raise Rejected("batch refused", system="tgt", status=400)
        return [LoadResult(r.key, ok=True, target_id=r.target_id) for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    outcome = Loader(run).load([item(str(n), target_id=f"T{n}") for n in range(1, 5)], True, "b1")
    assert outcome == {"updated": 3, "failed": 1}
    assert all(overwrite is True for _, overwrite in target.calls) and created(target) == []


def test_a_record_that_exists_in_a_bisected_create_batch_is_updated(tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            return [LoadResult(r.key, ok=True, target_id=r.target_id) for r in batch]
        if any(r.key == "src:4" for r in batch):
            raise Rejected("batch refused", system="tgt", status=400)
        return [LoadResult(r.key, ok=False, target_id=f"T-found-{r.key}", conflict="exists")
                if r.key in ("src:2", "src:3") else LoadResult(r.key, ok=True, target_id="T")
                for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    outcome = Loader(run).load([item(str(n)) for n in range(1, 5)], False, "b1")
    assert outcome == {"created": 1, "updated": 2, "failed": 1}  # 2 and 3 are in either half
    assert (links(run)["2"].target_id, links(run)["3"].target_id) == ("T-found-src:2",
                                                                      "T-found-src:3")


def test_a_refused_flip_is_bisected_without_flipping_back(tmp_path):
    def answer(batch, overwrite):
        if not overwrite:
            return [LoadResult(r.key, ok=False, target_id=f"T-{r.key}", conflict="exists")
                    for r in batch]
        if len(batch) > 1:
            raise Rejected("batch refused", system="tgt", status=400)
        return [LoadResult(r.key, ok=False, conflict="missing", errors=((None, "gone"),))
                for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    assert Loader(run).load([item("1"), item("2")], False, "b1") == {"failed": 2}
    assert [(len(b), o) for b, o in target.calls] == [(2, False), (2, True), (1, True), (1, True)]


# -- what is recorded ----------------------------------------------------------------------------


def test_the_sync_log_names_the_target_record_of_every_write(tmp_path):
    def answer(batch, overwrite):
        return [LoadResult(r.key, ok=r.key != "src:3", target_id={"src:1": "T-new"}.get(r.key),
                           errors=((None, "bad"),) if r.key == "src:3" else ())
                for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer), started=True)
    Loader(run).load([item("1", target_id="T-old"), item("2", target_id="T2"),
                      item("3", target_id="T3")], True, "b1")
    one, two, three = (run.store.history(n)[0] for n in ("1", "2", "3"))
    assert (one.target_id, two.target_id) == ("T-new", "T2")
    assert (three.operation, three.status, three.external_id, three.target_id) == (
        "fail", "failed", "src:3", "T3")
    assert three.content_hash == "h3" and three.payload == '{"code":"3","title":"T3"}'
    assert "tgt said: bad" in (three.error or "")
    assert (run.totals()["updated"], run.totals()["failed"]) == (2, 1)
    assert run.store.run(run.run_id).counts["updated"] == 2


def test_a_failed_record_s_log_row_names_the_target_record_the_target_reported(tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: [
        LoadResult(r.key, ok=False, target_id="T-there", errors=((None, "no"),))
        for r in batch]))
    Loader(run).load([item("1")], False, "b1")
    assert run.store.history("1")[0].target_id == "T-there"


def test_a_load_dead_letter_keeps_the_record_s_ids_and_source_payload(tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: [
        LoadResult(r.key, ok=False, errors=(("title", "too long"),)) for r in batch]))
    Loader(run).load([item("1")], False, "b1")
    (letter,) = run.store.dead_letters()
    assert (letter.stage, letter.source_id, letter.external_id, letter.field) == (
        "load", "1", "src:1", "title")
    assert letter.payload == '{"id": "1"}'


def test_a_payload_with_decimals_and_dates_is_logged_as_text(tmp_path):
    from datetime import date

    run = make_run(tmp_path, Scripted(upsert_key=True))
    record = item("1")
    record.payload.update(price=Decimal("9.50"), day=date(2026, 1, 2))
    Loader(run).load([record], False, "b1")
    assert run.store.history("1")[0].payload == (
        '{"code":"1","day":"2026-01-02","price":"9.50","title":"T1"}')  # canonical JSON


def test_failures_that_differ_before_a_second_said_do_not_stop_the_run(tmp_path):
    reasons = iter(["field a said: invalid", "field b said: invalid", "field c said: invalid"])
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: [
        LoadResult(r.key, ok=False, errors=((None, next(reasons)),)) for r in batch]),
        systemic_after=3)
    loader = Loader(run)
    for n in range(1, 4):
        loader.load([item(str(n))], False, f"b{n}")
    assert len(open_letters(run)) == 3


def test_a_retired_record_s_log_row_names_its_target_record(tmp_path):
    run = retired_with_one_failure(tmp_path)
    (done,) = run.store.history("2")
    (failed,) = run.store.history("3")
    assert (done.operation, done.status, done.target_id) == ("deactivate", "ok", "T2")
    assert (failed.operation, failed.status, failed.target_id) == ("deactivate", "failed", "T3")
