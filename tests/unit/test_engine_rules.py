"""The loader's and the retirer's data rules against a scripted target and a real state store.

Found by mutation testing (docs/mutation.md): each rule here keeps a record from being created
twice, written over another record, lost without a dead letter, or retired by mistake. The
end-to-end tests run the same rules through the emulators; these pin each one in a second.
"""

import logging
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from offering_sync.engine.load import Group, Loader, SystemicFailure
from offering_sync.engine.options import Pipeline, SyncOptions
from offering_sync.engine.retire import MassDeleteRefused, retire_missing
from offering_sync.engine.state import Item, RunState
from offering_sync.errors import ConfigError, QuotaExhausted, Rejected, TransientError
from offering_sync.records import LoadResult, WriteRequest
from offering_sync.state import Link, StateStore

RUN = "run-1"


@dataclass
class Scripted:
    """A target whose answers the test decides; it remembers every call."""

    system: str = "tgt"
    max_batch: int = 100
    upsert_key: bool = False
    identity_fields: tuple[str, ...] = ()
    retire_modes: tuple[str, ...] = ("deactivate", "delete")
    answer: object = None  # (requests, overwrite) -> list[LoadResult] | raises
    calls: list[tuple[list[WriteRequest], bool]] = field(default_factory=list)
    retired: list[tuple[list[WriteRequest], str]] = field(default_factory=list)
    retire_fails: set[str] = field(default_factory=set)

    def upsert(self, batch, *, overwrite, policy):
        batch = list(batch)
        self.calls.append((batch, overwrite))
        if self.answer is not None:
            return self.answer(batch, overwrite)
        return [LoadResult(r.key, ok=True, target_id=r.target_id or f"T-{r.key}") for r in batch]

    def retire(self, batch, *, how, policy):
        batch = list(batch)
        self.retired.append((batch, how))
        return [LoadResult(r.key, ok=r.key not in self.retire_fails, target_version="v9",
                           errors=(() if r.key not in self.retire_fails else ((None, "no"),)))
                for r in batch]

    def close(self):
        pass


def guarded(loader: Loader, label: str, batch: list, overwrite: bool) -> None:
    """One batch as its own group: what the engine does with k = 1."""
    group = Group()
    group.add(label, batch, overwrite)
    loader.guarded_group(group)


def make_run(tmp_path, target=None, ownership=None, *, db="state.db", run_id=RUN,
             started=False, **options) -> RunState:
    source = SimpleNamespace(system="src")
    target = target or Scripted()
    mapping = SimpleNamespace(ownership=ownership or {}, digest="d")
    store = StateStore(f"sqlite:///{tmp_path / db}")
    run = RunState(Pipeline(source, target, mapping, mapping), store,  # type: ignore[arg-type]
                   SyncOptions(**options), lambda label, step: step(), logging.getLogger("t"))
    if started:  # a runs row, for the totals each batch commit writes
        run_id = store.start_run(run.name, "src", "tgt", "incremental", {})
    run.run_id = run_id
    store.release_lock(run.name, RUN)
    store.acquire_lock(run.name, run_id, ttl_seconds=60)
    return run


def item(sid: str, ext: str | None = None, **more) -> Item:
    return Item(sid, ext or f"src:{sid}", {"title": f"T{sid}", "code": sid}, f"h{sid}",
                {"id": sid}, **more)


def links(run: RunState) -> dict[str, Link]:
    return run.store.links_for("src", "tgt", [str(n) for n in range(50)])


def open_letters(run: RunState) -> dict[str, str]:
    return {d.source_id: d.error for d in run.store.dead_letters()}


# -- identity ------------------------------------------------------------------------------------


def test_an_external_id_linked_to_another_record_is_refused_before_anything_is_sent(tmp_path):
    run = make_run(tmp_path)
    run.store.record_batch(run_id=RUN, pipeline=run.name, source="src", target="tgt",
                           loaded=[Link("1", "src:shared", "T1", "h1")], failed=[])
    run.store.record_intents(run.name, RUN, [("src:shared", {"title": "T1"})])
    target = run.p.target
    outcome = Loader(run).load([item("1", "src:shared", target_id="T1"), item("2", "src:shared"),
                                item("3", "src:dup"), item("4", "src:dup")], True, "b1")
    sent = [r.key for batch, _ in target.calls for r in batch]
    assert sent == ["src:shared", "src:dup"]  # record 1 (its owner) and record 3 (first seen)
    assert outcome == {"updated": 2, "failed": 2}
    letters = open_letters(run)
    assert sorted(letters) == ["2", "4"]
    assert "external id src:shared is already used by another source record" in letters["2"]
    assert {d.field for d in run.store.dead_letters()} == {"external_id"}
    assert links(run)["1"].target_id == "T1" and "2" not in links(run)
    assert links(run)["3"].external_id == "src:dup" and "4" not in links(run)


def test_a_clash_leaves_the_owner_s_create_intent_in_place(tmp_path):
    run = make_run(tmp_path)
    run.store.record_batch(run_id=RUN, pipeline=run.name, source="src", target="tgt",
                           loaded=[Link("1", "src:shared", "T1", "h1")], failed=[])
    run.store.record_intents(run.name, RUN, [("src:shared", {"title": "T1"})])
    Loader(run).load([item("2", "src:shared")], False, "b1")
    assert list(run.store.open_intents(run.name, ["src:shared"])) == ["src:shared"]


# -- create intents ------------------------------------------------------------------------------


def test_a_create_without_upsert_key_records_its_intent_first_and_hands_it_back(tmp_path):
    target = Scripted(identity_fields=("title",))
    run = make_run(tmp_path, target)
    seen_before_send = {}

    def answer(batch, overwrite):
        seen_before_send.update(run.store.open_intents(run.name, [r.key for r in batch]))
        raise TransientError("answer lost", system="tgt")

    target.answer = answer
    with pytest.raises(TransientError):
        Loader(run).load([item("1")], False, "b1")
    assert seen_before_send["src:1"].fingerprint == {"title": "T1"}  # only the identity fields
    target.answer = None
    Loader(run).load([item("1")], False, "b1")
    (request,) = target.calls[-1][0]
    assert request.intent is not None and request.intent.fingerprint == {"title": "T1"}
    assert run.store.open_intents(run.name, ["src:1"]) == {}  # settled by the load


def test_no_identity_fields_means_the_whole_payload_is_the_fingerprint(tmp_path):
    run = make_run(tmp_path)
    run.p.target.answer = lambda batch, overwrite: (_ for _ in ()).throw(
        TransientError("lost", system="tgt"))
    with pytest.raises(TransientError):
        Loader(run).load([item("1")], False, "b1")
    assert run.store.open_intents(run.name, ["src:1"])["src:1"].fingerprint == {
        "title": "T1", "code": "1"}


def test_targets_with_an_upsert_key_and_updates_record_no_intent(tmp_path):
    for n, (target, overwrite) in enumerate([(Scripted(upsert_key=True), False),
                                             (Scripted(), True)]):
        run = make_run(tmp_path, target, db=f"{n}.db")
        recorded = []
        real = run.store.record_intents
        run.store.record_intents = lambda *a, real=real, recorded=recorded, **k: (
            recorded.append(a), real(*a, **k))
        Loader(run).load([item("1", target_id="T1" if overwrite else None)], overwrite, "b")
        assert recorded == []
        assert all(r.intent is None for batch, _ in target.calls for r in batch)


# -- sending -------------------------------------------------------------------------------------


def refusing(bad: set[str], status: int = 400):
    def answer(batch, overwrite):
        if any(r.key in bad for r in batch):
            raise Rejected("batch refused", system="tgt", status=status)
        return [LoadResult(r.key, ok=True, target_id=f"T-{r.key}") for r in batch]
    return answer


def test_a_batch_refused_whole_is_bisected_so_only_the_bad_record_fails(tmp_path):
    target = Scripted(answer=refusing({"src:3"}))
    run = make_run(tmp_path, target)
    outcome = Loader(run).load([item(str(n)) for n in range(1, 6)], False, "b1")
    assert outcome == {"created": 4, "failed": 1}
    assert sorted(links(run)) == ["1", "2", "4", "5"]
    assert list(open_letters(run)) == ["3"] and "batch refused" in open_letters(run)["3"]
    assert [(r.operation, r.status) for r in run.store.history("1")] == [("create", "ok")]
    assert [(r.operation, r.status) for r in run.store.history("3")] == [("fail", "failed")]
    assert [len(b) for b, _ in target.calls] == [5, 2, 3, 1, 2]  # halves until the culprit


@pytest.mark.parametrize("status", [401, 403, 404, 405])
def test_a_refusal_that_says_the_set_up_is_wrong_stops_the_run(tmp_path, status):
    run = make_run(tmp_path, Scripted(answer=refusing({"src:1"}, status)))
    with pytest.raises(SystemicFailure, match=f"HTTP {status}"):
        Loader(run).load([item("1"), item("2")], False, "b1")
    assert open_letters(run) == {} and links(run) == {}


@pytest.mark.parametrize("status", [400, 409, 422, None])
def test_other_refusals_fail_only_the_records_that_cause_them(tmp_path, status):
    run = make_run(tmp_path, Scripted(answer=refusing({"src:1"}, status)))
    assert Loader(run).load([item("1"), item("2")], False, "b1") == {"created": 1, "failed": 1}


def test_an_answer_with_too_few_results_is_a_refusal_not_a_partial_success(tmp_path):
    def short(batch, overwrite):
        return [LoadResult(r.key, ok=True, target_id="T") for r in batch[:1]]

    target = Scripted(answer=short)
    run = make_run(tmp_path, target)
    outcome = Loader(run).load([item("1"), item("2")], False, "b1")
    assert outcome == {"created": 2, "failed": 0}  # each re-sent alone, each answered
    assert [len(b) for b, _ in target.calls] == [2, 1, 1]


def test_a_create_the_target_already_has_becomes_an_update_of_that_record(tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            return [LoadResult(r.key, ok=True, target_id=r.target_id) for r in batch]
        return [LoadResult(r.key, ok=False, target_id="T-found", conflict="exists")
                if r.key == "src:1" else LoadResult(r.key, ok=True, target_id="T-new")
                for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    outcome = Loader(run).load([item("1"), item("2")], False, "b1")
    assert outcome == {"created": 1, "updated": 1, "failed": 0}
    assert [(len(b), o) for b, o in target.calls] == [(2, False), (1, True)]
    assert target.calls[1][0][0].target_id == "T-found"
    assert links(run)["1"].target_id == "T-found"
    assert run.store.history("1")[0].operation == "update"


def test_an_update_of_a_record_gone_from_the_target_creates_it_anew_once(tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            return [LoadResult(r.key, ok=False, conflict="missing") for r in batch]
        return [LoadResult(r.key, ok=True, target_id="T-again") for r in batch]

    target = Scripted(answer=answer)
    run = make_run(tmp_path, target)
    gone = item("1", target_id="T-old", written_hash="h0", target_version="v0")
    seen = {}
    original = target.upsert

    def spy(batch, *, overwrite, policy):
        if not overwrite:
            seen.update(run.store.open_intents(run.name, [r.key for r in batch]))
        return original(batch, overwrite=overwrite, policy=policy)

    target.upsert = spy
    assert Loader(run).load([gone], True, "b1") == {"created": 1, "failed": 0}
    (retry,) = target.calls[1][0]
    assert (retry.target_id, retry.written_hash, retry.target_version) == (None, None, None)
    assert "src:1" in seen  # its create intent was recorded before the create
    assert links(run)["1"].target_id == "T-again"


def test_a_gone_record_in_a_target_with_an_upsert_key_needs_no_intent(tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            return [LoadResult(r.key, ok=False, conflict="missing") for r in batch]
        return [LoadResult(r.key, ok=True, target_id="T-again") for r in batch]

    target = Scripted(answer=answer, upsert_key=True)
    run = make_run(tmp_path, target)
    recorded = []
    real = run.store.record_intents
    run.store.record_intents = lambda *a, **k: recorded.append(a) or real(*a, **k)
    Loader(run).load([item("1", target_id="T-old")], True, "b1")
    assert recorded == []


def test_the_flip_is_tried_once_only(tmp_path):
    def answer(batch, overwrite):
        return [LoadResult(r.key, ok=False, target_id="T-x",
                           conflict="missing" if overwrite else "exists") for r in batch]

    target = Scripted(answer=answer, upsert_key=True)
    run = make_run(tmp_path, target)
    assert Loader(run).load([item("1")], False, "b1") == {"failed": 1}
    assert [o for _, o in target.calls] == [False, True]


def test_a_refused_single_record_on_the_flip_is_a_dead_letter(tmp_path):
    def answer(batch, overwrite):
        if overwrite:
            raise Rejected("update refused", system="tgt", status=400)
        return [LoadResult(r.key, ok=False, target_id="T-x", conflict="exists") for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer))
    assert Loader(run).load([item("1")], False, "b1") == {"failed": 1}
    assert "update refused" in open_letters(run)["1"]


# -- recording -----------------------------------------------------------------------------------


def test_a_record_that_exists_but_failed_is_linked_without_a_hash_so_it_is_updated_next(tmp_path):
    def answer(batch, overwrite):
        return [LoadResult(r.key, ok=False, target_id="T-1", target_version="v1",
                           errors=(("title", "too long"),)) for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer, upsert_key=True))
    Loader(run).load([item("1")], True, "b1")
    assert links(run)["1"] == Link("1", "src:1", "T-1", None, "v1", None, "active")
    (letter,) = run.store.dead_letters()
    assert (letter.field, letter.error) == ("title", "record 1: tgt said: title: too long")


def test_a_confirmed_write_links_the_record_with_its_hash_and_versions(tmp_path):
    def answer(batch, overwrite):
        return [LoadResult(r.key, ok=True, target_id=None, target_version="v2",
                           action="adopted") for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer))
    outcome = Loader(run).load([item("1", target_id="T-known", source_version="s5")], True, "b")
    assert outcome == {"adopted": 1, "failed": 0}
    assert links(run)["1"] == Link("1", "src:1", "T-known", "h1", "v2", "s5", "active")
    (row,) = run.store.history("1")
    assert (row.operation, row.status, row.content_hash) == ("adopt", "ok", "h1")
    assert run.totals()["adopted"] == 1


def test_an_edit_in_the_target_is_counted_as_a_conflict_either_way(tmp_path):
    def answer(batch, overwrite):
        return [LoadResult(r.key, ok=r.key == "src:1", target_id="T", conflict="changed",
                           errors=(() if r.key == "src:1" else ((None, "edited there"),)))
                for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer))
    outcome = Loader(run).load([item("1", target_id="T"), item("2", target_id="T")], True, "b")
    assert outcome == {"conflicts": 2, "updated": 1, "failed": 1}
    ok_row = run.store.history("1")[0]
    assert ok_row.error == "target changed since our last write"
    failed_row = run.store.history("2")[0]
    assert (failed_row.operation, failed_row.status) == ("conflict", "failed")


def test_a_failed_write_settles_its_create_intent(tmp_path):
    run = make_run(tmp_path)
    run.p.target.answer = lambda batch, overwrite: [
        LoadResult(r.key, ok=False, errors=((None, "bad"),)) for r in batch]
    Loader(run).load([item("1")], False, "b1")
    assert run.store.open_intents(run.name, ["src:1"]) == {}


def test_a_record_failing_again_counts_its_attempts(tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: [
        LoadResult(r.key, ok=False, errors=((None, "bad"),)) for r in batch]))
    loader = Loader(run)
    loader.load([item("1")], True, "b1")
    loader.load([item("1")], True, "b2")
    (letter,) = run.store.dead_letters()
    assert letter.attempts == 2


# -- stopping instead of failing everything ------------------------------------------------------


def failing(message):
    return lambda batch, overwrite: [LoadResult(r.key, ok=False, errors=((None, message(r)),))
                                     for r in batch]


def test_the_first_records_all_failing_alike_stop_the_run(tmp_path):
    run = make_run(tmp_path, Scripted(answer=failing(lambda r: "field X does not exist")),
                   systemic_after=3)
    loader = Loader(run)
    loader.load([item("1"), item("2")], True, "b1")
    with pytest.raises(SystemicFailure, match="first 3 records .* field X does not exist"):
        loader.load([item("3")], True, "b2")


def test_different_reasons_or_one_success_do_not_stop_the_run(tmp_path):
    run = make_run(tmp_path, Scripted(answer=failing(lambda r: f"bad {r.key}")),
                   systemic_after=3)
    Loader(run).load([item("1"), item("2"), item("3"), item("4")], True, "b1")
    run = make_run(tmp_path, db="other.db", target=Scripted(answer=lambda batch, overwrite: [
        LoadResult(r.key, ok=r.key == "src:1", target_id="T", errors=((None, "same"),))
        for r in batch]), systemic_after=3)
    Loader(run).load([item("1"), item("2"), item("3"), item("4")], True, "b1")


def test_fewer_failures_than_the_limit_do_not_stop_the_run(tmp_path):
    run = make_run(tmp_path, Scripted(answer=failing(lambda r: "same")), systemic_after=3)
    assert Loader(run).load([item("1"), item("2")], True, "b1") == {"failed": 2}


def test_a_batch_still_failing_after_retries_becomes_dead_letters_and_three_stop_the_run(
        tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: (_ for _ in ()).throw(
        TransientError("HTTP 503", system="tgt"))))
    loader = Loader(run)
    guarded(loader, "b1", [item("1"), item("2")], True)
    assert sorted(open_letters(run)) == ["1", "2"]
    assert "not loaded after retries" in open_letters(run)["1"]
    assert run.totals()["failed"] == 2
    guarded(loader, "b2", [item("3")], True)
    assert loader.transient_streak == 2
    with pytest.raises(SystemicFailure, match="3 batches in a row"):
        guarded(loader, "b3", [item("4")], True)


def test_a_good_batch_between_bad_ones_resets_the_count(tmp_path):
    bad = {"on": True}

    def answer(batch, overwrite):
        if bad["on"]:
            raise TransientError("HTTP 503", system="tgt")
        return [LoadResult(r.key, ok=True, target_id="T") for r in batch]

    run = make_run(tmp_path, Scripted(answer=answer, upsert_key=True))
    loader = Loader(run)
    guarded(loader, "b1", [item("1")], True)
    guarded(loader, "b2", [item("2")], True)
    bad["on"] = False
    guarded(loader, "b3", [item("3")], True)
    assert loader.transient_streak == 0
    bad["on"] = True
    guarded(loader, "b4", [item("4")], True)
    guarded(loader, "b5", [item("5")], True)  # two in a row again: no stop


def test_a_used_up_quota_keeps_the_batch_for_later(tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: (_ for _ in ()).throw(
        QuotaExhausted("daily limit", system="tgt"))))
    with pytest.raises(QuotaExhausted):
        Loader(run).load([item("1"), item("2")], True, "b1")
    assert sorted(run.pending[True]) == ["1", "2"] and run.pending[False] == {}
    assert open_letters(run) == {}


def test_a_dry_run_plan_counts_without_writing(tmp_path):
    run = make_run(tmp_path)
    loader = Loader(run)
    loader.plan([item("1"), item("2"), item("3")], False)
    loader.plan([item("4"), item("5")], True)
    assert (run.totals()["created"], run.totals()["updated"]) == (3, 2)
    assert run.p.target.calls == []


@dataclass
class Planner(Scripted):
    planned: list = field(default_factory=list)

    def plan(self, batch):
        self.planned.append([r.key for r in batch])
        return [LoadResult(r.key, ok=True, action="would_update" if r.target_id else
                           "would_create") for r in batch]


def test_a_dry_run_asks_a_target_that_can_plan(tmp_path):
    target = Planner()
    run = make_run(tmp_path, target)
    Loader(run).plan([item("1", target_id="T1"), item("2"), item("3")], False)
    assert target.planned == [["src:1", "src:2", "src:3"]] and target.calls == []
    assert (run.totals()["created"], run.totals()["updated"]) == (2, 1)


def test_a_guarded_batch_is_sent_as_the_caller_said(tmp_path):
    target = Scripted(upsert_key=True)
    run = make_run(tmp_path, target)
    guarded(Loader(run), "b1", [item("1", target_id="T1")], True)
    guarded(Loader(run), "b2", [item("2")], False)
    assert [o for _, o in target.calls] == [True, False]
    assert (run.totals()["updated"], run.totals()["created"]) == (1, 1)


def test_a_batch_lost_to_transient_errors_keeps_the_records_and_counts_attempts(tmp_path):
    run = make_run(tmp_path, Scripted(answer=lambda batch, overwrite: (_ for _ in ()).throw(
        TransientError("HTTP 503", system="tgt"))))
    loader = Loader(run)
    guarded(loader, "b1", [item("1")], True)
    guarded(loader, "b2", [item("1")], True)
    (letter,) = run.store.dead_letters()
    assert (letter.stage, letter.source_id, letter.external_id, letter.attempts) == (
        "load", "1", "src:1", 2)
    assert letter.payload == '{"id": "1"}'  # the source record, for a retry after the fix


def test_a_merge_field_sends_what_we_last_wrote(tmp_path):
    run = make_run(tmp_path, Scripted(upsert_key=True), ownership={"tags": "merge"})
    loader = Loader(run)
    loader.load([item("1")], True, "b1")
    loader.load([item("1")], True, "b2")
    first, second = (batch[0] for batch, _ in run.p.target.calls)
    assert first.previous is None
    assert second.previous == {"code": "1", "title": "T1"}


# -- retiring records gone from the source -------------------------------------------------------


def linked(run: RunState, count: int, seen: int) -> None:
    """``count`` linked records of which this run saw the first ``seen``."""
    run.store.record_batch(run_id="old", pipeline=run.name, source="src", target="tgt",
                           loaded=[Link(str(n), f"src:{n}", f"T{n}", f"h{n}", "v1", "s1")
                                   for n in range(count)], failed=[], fenced=False)
    run.store.mark_seen("src", "tgt", run.run_id, [str(n) for n in range(seen)])


def test_missing_records_are_only_counted_under_the_report_policy(tmp_path):
    run = make_run(tmp_path)
    linked(run, 20, 18)
    retire_missing(run)
    assert run.totals()["missing_in_source"] == 2 and run.p.target.retired == []


def test_a_dry_run_retires_nothing(tmp_path):
    run = make_run(tmp_path, on_delete="delete", dry_run=True)
    linked(run, 20, 18)
    retire_missing(run)
    assert run.p.target.retired == [] and links(run)["19"].state == "active"


def test_the_mass_delete_guard_allows_exactly_its_ratio(tmp_path):
    run = make_run(tmp_path, on_delete="deactivate", max_delete_ratio=0.1)
    linked(run, 20, 18)  # 2 of 20 = 10 %: allowed
    retire_missing(run)
    assert run.totals()["deactivated"] == 2


def test_the_mass_delete_guard_refuses_more_than_its_ratio(tmp_path):
    run = make_run(tmp_path, on_delete="delete", max_delete_ratio=0.1)
    linked(run, 20, 17)  # 3 of 20 = 15 %
    with pytest.raises(MassDeleteRefused, match=r"3 of 20 linked offerings \(15%\).* run once "
                       "with --allow-mass-delete"):
        retire_missing(run)
    assert run.p.target.retired == []
    assert all(link.state == "active" for link in links(run).values())


def test_the_guard_can_be_lifted_for_one_run(tmp_path):
    run = make_run(tmp_path, on_delete="delete", allow_mass_delete=True)
    linked(run, 4, 0)
    retire_missing(run)
    assert run.totals()["deleted"] == 4


def retired_with_one_failure(tmp_path):
    """Records 0-3 linked, 0 and 1 seen by this run: 2 and 3 are deactivated, and 3 fails."""
    run = make_run(tmp_path, on_delete="deactivate", max_delete_ratio=1, started=True)
    linked(run, 4, 2)
    run.add("extracted", 2)
    run.p.target.retire_fails.add("src:3")
    retire_missing(run)
    return run


def test_deactivated_and_deleted_links_keep_what_they_need_to_come_back(tmp_path):
    run = retired_with_one_failure(tmp_path)
    (batch, how), = run.p.target.retired
    assert how == "deactivate"
    assert [(r.key, r.target_id, r.written_hash, r.target_version) for r in batch] == [
        ("src:2", "T2", "h2", "v1"), ("src:3", "T3", "h3", "v1")]
    assert links(run)["2"] == Link("2", "src:2", "T2", "h2", "v9", "s1", "deactivated")
    assert links(run)["3"].state == "active"
    assert "record 3: could not deactivate: no" in open_letters(run)["3"]
    assert (run.totals()["deactivated"], run.totals()["deleted"]) == (1, 0)
    assert [(r.operation, r.status, r.external_id, r.target_id) for r in run.store.history("2")
            ] == [("deactivate", "ok", "src:2", "T2")]
    assert [(r.operation, r.status, r.external_id, r.error) for r in run.store.history("3")] == [
        ("deactivate", "failed", "src:3", "no")]
    (letter,) = run.store.dead_letters()
    assert (letter.stage, letter.source_id, letter.external_id) == ("retire", "3", "src:3")
    assert run.store.run(run.run_id).counts["extracted"] == 2  # the run's totals, committed too

    run.store.release_lock(run.name, run.run_id)
    run2 = make_run(tmp_path, on_delete="delete", max_delete_ratio=1, run_id="run-2")
    run2.store.mark_seen("src", "tgt", "run-2", ["0", "1", "2"])
    retire_missing(run2)
    assert links(run2)["3"] == Link("3", "src:3", "T3", None, "v9", "s1", "deleted")
    assert run2.totals()["deleted"] == 1


def test_retiring_pages_through_every_missing_record(tmp_path):
    target = Scripted(max_batch=3)
    run = make_run(tmp_path, target, on_delete="delete", allow_mass_delete=True)
    linked(run, 8, 0)
    retire_missing(run)
    assert [len(batch) for batch, _ in target.retired] == [3, 3, 2]
    assert run.totals()["deleted"] == 8
    assert all(link.state == "deleted" for link in links(run).values())


def test_a_target_that_cannot_retire_that_way_says_so_and_retires_nothing(tmp_path):
    run = make_run(tmp_path, Scripted(retire_modes=("delete",)), on_delete="deactivate",
                   max_delete_ratio=1)
    linked(run, 2, 1)
    with pytest.raises(ConfigError, match="tgt cannot deactivate offerings"):
        retire_missing(run)
    assert run.p.target.retired == []


def test_with_nothing_linked_nothing_is_missing(tmp_path):
    run = make_run(tmp_path, on_delete="delete")
    retire_missing(run)
    assert run.totals()["missing_in_source"] == 0


def test_the_only_linked_record_missing_is_a_mass_delete(tmp_path):
    run = make_run(tmp_path, on_delete="delete", max_delete_ratio=0.6)
    linked(run, 1, 0)  # 1 of 1: 100 %
    with pytest.raises(MassDeleteRefused):
        retire_missing(run)
    assert run.p.target.retired == []


def test_a_target_answering_fewer_results_than_records_is_an_error_not_a_skip(tmp_path):
    target = Scripted()
    target.retire = lambda batch, *, how, policy: [LoadResult(batch[0].key, ok=True)]
    run = make_run(tmp_path, target, on_delete="delete", allow_mass_delete=True)
    linked(run, 2, 0)
    with pytest.raises(ValueError):
        retire_missing(run)
    assert all(link.state == "active" for link in links(run).values())


def test_more_missing_records_than_one_count_query_are_all_counted(tmp_path):
    # the count feeds the mass-delete guard: an undercount would let a mass delete through
    run = make_run(tmp_path, on_delete="delete")
    linked(run, 5_100, 0)
    with pytest.raises(MassDeleteRefused, match="5100 of 5100"):
        retire_missing(run)
    assert run.totals()["missing_in_source"] == 5_100
