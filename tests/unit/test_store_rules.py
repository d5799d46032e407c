"""The state store's data rules, one by one (found by mutation testing, docs/mutation.md).

Links, intents, dead letters and locks are what stop a record being created twice, written
over another, retired by mistake or recorded by a run that lost its lock. Each test states
what an operator would check in the store.
"""

import socket
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from offering_sync.errors import LockHeld, LockLost
from offering_sync.state import Link, LogEntry, StateStore
from offering_sync.state.links import chunks
from offering_sync.state.locks import holder_is_alive
from offering_sync.state.tables import locks, runs, sync_log

P = "a->b"


def locked(url: str, run: str = "run-1") -> StateStore:
    store = StateStore(url)
    store.acquire_lock(P, run, ttl_seconds=60)
    return store


def commit(store: StateStore, loaded=(), failed=(), run: str = "run-1", **more) -> None:
    store.record_batch(run_id=run, pipeline=P, source="a", target="b", loaded=list(loaded),
                       failed=list(failed), **more)


def test_chunks_cover_every_value_once_in_order():
    values = list(range(1203))
    parts = list(chunks(values))
    assert [len(p) for p in parts] == [500, 500, 203]
    assert [v for p in parts for v in p] == values
    assert list(chunks([1, 2, 3], 2)) == [[1, 2], [3]]
    assert list(chunks([])) == []


# -- links ---------------------------------------------------------------------------------------


def test_links_belong_to_one_source_and_one_target(state_url):
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "T1", "h1", "v1", "s1")])
    store.record_batch(run_id="run-1", pipeline=P, source="a", target="c",
                       loaded=[Link("1", "a:1", "C1", "hc")], failed=[])
    store.record_batch(run_id="run-1", pipeline=P, source="z", target="b",
                       loaded=[Link("1", "z:1", "Z1", "hz")], failed=[])
    assert store.links_for("a", "b", ["1", "1"]) == {
        "1": Link("1", "a:1", "T1", "h1", "v1", "s1", "active")}
    assert store.links_for("a", "c", ["1"])["1"].target_id == "C1"
    assert store.links_by_external("a", "b", ["a:1", "z:1", "a:1"]) == {"a:1": "1"}
    assert store.links_by_external("z", "b", ["a:1", "z:1"]) == {"z:1": "1"}
    assert store.count_links("a", "b") == 1


def test_many_links_are_found_past_one_query_s_worth_of_ids(state_url):
    store = locked(state_url)
    many = [Link(str(n), f"a:{n}", f"T{n}", "h") for n in range(1100)]
    commit(store, many)
    ids = [link.source_id for link in many]
    assert len(store.links_for("a", "b", ids)) == 1100
    assert len(store.links_by_external("a", "b", [link.external_id for link in many])) == 1100
    store.mark_seen("a", "b", "run-2", ids)
    assert store.unseen_links("a", "b", "run-2") == []
    store.forget_links("a", "b", ids)
    assert store.count_links("a", "b") == 0


def test_a_commit_rewrites_every_field_of_a_link(state_url):
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "T1", "h1", "v1", "s1")])
    commit(store, [Link("1", "a:1b", "T2", "h2", "v2", "s2", "deactivated")])
    assert store.links_for("a", "b", ["1"])["1"] == Link("1", "a:1b", "T2", "h2", "v2", "s2",
                                                         "deactivated")


def three_pairs(url: str) -> StateStore:
    """Source record 1 linked in a→b (beside record 2), in a→c and, as another record, z→b."""
    store = locked(url)
    commit(store, [Link("1", "a:1", "T1", "h"), Link("2", "a:2", "T2", "h")])
    store.record_batch(run_id="run-1", pipeline=P, source="a", target="c",
                       loaded=[Link("1", "a:1", "C1", "h")], failed=[])
    store.record_batch(run_id="run-1", pipeline=P, source="z", target="b",
                       loaded=[Link("1", "z:1", "Z1", "h")], failed=[])
    return store


def test_forgetting_links_drops_only_those_of_that_pair(state_url):
    store = three_pairs(state_url)
    store.forget_links("a", "b", ["1"])
    assert list(store.links_for("a", "b", ["1", "2"])) == ["2"]
    assert list(store.links_for("a", "c", ["1"])) == ["1"]
    assert list(store.links_for("z", "b", ["1"])) == ["1"]


def test_unseen_links_are_the_active_ones_this_run_did_not_see_in_order_and_paged(state_url):
    store = locked(state_url)
    commit(store, [Link(s, f"a:{s}", f"T{s}", "h") for s in ("1", "2", "3", "4", "5")])
    commit(store, [Link("6", "a:6", "T6", None, state="deactivated")])
    store.record_batch(run_id="run-1", pipeline=P, source="a", target="c",
                       loaded=[Link("9", "a:9", "C9", "h")], failed=[])
    store.record_batch(run_id="run-1", pipeline=P, source="z", target="b",
                       loaded=[Link("7", "z:7", "Z7", "h"), Link("2", "z:2", "Z2", "h")],
                       failed=[])
    store.mark_seen("a", "b", "run-2", ["2", "4", "2"])
    # another source's records in the same target are neither seen nor missing for a->b
    assert [x.source_id for x in store.unseen_links("z", "b", "run-2")] == ["2", "7"]
    store.mark_seen("a", "c", "run-2", ["1"])  # another target's link of the same record
    unseen = store.unseen_links("a", "b", "run-2")
    assert [link.source_id for link in unseen] == ["1", "3", "5"]
    assert unseen[0] == Link("1", "a:1", "T1", "h", None, None, "active")
    assert [x.source_id for x in store.unseen_links("a", "b", "run-2", limit=2)] == ["1", "3"]
    assert [x.source_id for x in store.unseen_links("a", "b", "run-2", after="1")] == ["3", "5"]
    assert [x.source_id for x in store.unseen_links(
        "a", "b", "run-2", states=("active", "deactivated"))] == ["1", "3", "5", "6"]
    # the run that committed a link saw it; a later run's sighting is the one that counts
    assert [x.source_id for x in store.unseen_links("a", "b", "run-1")] == ["2", "4"]
    assert store.count_links("a", "b", ("active", "deactivated")) == 6
    assert store.count_links("a", "b", ("deactivated",)) == 1


def test_a_link_never_seen_by_any_run_counts_as_unseen(state_url):
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "T1", "h")])
    with store.engine.begin() as conn:
        from offering_sync.state.tables import links
        conn.execute(update(links).values(seen_run=None))
    assert [x.source_id for x in store.unseen_links("a", "b", "run-1")] == ["1"]


def test_setting_a_link_state_touches_only_the_named_records_of_that_pair(state_url):
    store = three_pairs(state_url)
    store.set_link_state("a", "b", ["1"], "missing", "run-2")
    assert store.links_for("z", "b", ["1"])["1"].state == "active"
    assert store.links_for("a", "b", ["1"])["1"].state == "missing"
    assert store.links_for("a", "b", ["2"])["2"].state == "active"
    assert store.links_for("a", "c", ["1"])["1"].state == "active"
    assert store.count_links("a", "b") == 1


# -- intents -------------------------------------------------------------------------------------


def test_an_intent_is_kept_until_its_batch_settles_it(state_url):
    store = locked(state_url)
    store.record_intents(P, "run-1", [("a:1", {"title": "One"}), ("a:2", {"title": "Two"})])
    found = store.open_intents(P, ["a:1", "a:2", "a:3"])
    assert sorted(found) == ["a:1", "a:2"]
    assert list(store.open_intents(P, ["a:2"])) == ["a:2"]
    assert found["a:1"].external_id == "a:1"
    # when it was recorded, not when it was read: a retry looks for records created since then
    assert store.open_intents(P, ["a:1"])["a:1"].created_at == found["a:1"].created_at
    assert found["a:1"].fingerprint == {"title": "One"} and found["a:1"].run_id == "run-1"
    assert found["a:1"].created_at.tzinfo is not None
    assert store.open_intents("another pipeline", ["a:1"]) == {}
    commit(store, [Link("1", "a:1", "T1", "h")])  # loaded: settled
    commit(store, [], settle=["a:2"])  # failed for sure: settled too
    assert store.open_intents(P, ["a:1", "a:2"]) == {}


def test_intents_of_another_pipeline_are_never_replaced_or_settled(state_url):
    from datetime import date

    store = locked(state_url)
    store.acquire_lock("other", "run-9", ttl_seconds=60)
    store.record_intents("other", "run-9", [("a:1", {"title": "Theirs"})])
    store.record_intents(P, "run-1", [("a:1", {"title": "Ours", "start": date(2026, 1, 2)})])
    commit(store, [Link("1", "a:1", "T1", "h")])
    assert store.open_intents("other", ["a:1"])["a:1"].fingerprint == {"title": "Theirs"}
    assert store.open_intents(P, ["a:1"]) == {}


def test_a_fingerprint_with_dates_is_stored_as_text(state_url):
    from datetime import date

    store = locked(state_url)
    store.record_intents(P, "run-1", [("a:1", {"start": date(2026, 1, 2)})])
    assert store.open_intents(P, ["a:1"])["a:1"].fingerprint == {"start": "2026-01-02"}


def test_a_new_intent_replaces_the_old_one_for_the_same_record(state_url):
    store = locked(state_url)
    store.record_intents(P, "run-1", [("a:1", {"title": "Old"})])
    store.record_intents(P, "run-1", [("a:1", {"title": "New"})])
    assert store.open_intents(P, ["a:1"])["a:1"].fingerprint == {"title": "New"}


def test_a_run_without_the_lock_cannot_record_an_intent(state_url):
    store = locked(state_url, "run-2")
    with pytest.raises(LockLost):
        store.record_intents(P, "run-1", [("a:1", {"title": "One"})])
    assert store.open_intents(P, ["a:1"]) == {}


# -- dead letters in the batch commit ------------------------------------------------------------


def failure(sid: str, error: str = "boom", **more) -> dict:
    return {"stage": "load", "source_id": sid, "external_id": f"a:{sid}", "error": error,
            "field": "title", **more}


def test_a_record_has_one_open_dead_letter_the_newest(state_url):
    store = locked(state_url)
    commit(store, failed=[failure("1", "first"), failure("2")])
    store.record_batch(run_id="run-1", pipeline="other", source="a", target="b", loaded=[],
                       failed=[failure("1", "elsewhere")], fenced=False)
    commit(store, failed=[failure("1", "second", attempts=2, parked=True, retry_at_run=7,
                                  raw_hash="r", payload="{}")])
    letters = {(d.pipeline, d.source_id): d for d in store.dead_letters()}
    assert sorted(letters) == [("a->b", "1"), ("a->b", "2"), ("other", "1")]
    one = letters[(P, "1")]
    assert (one.error, one.attempts, one.parked, one.retry_at_run, one.raw_hash, one.field,
            one.stage, one.external_id) == ("second", 2, True, 7, "r", "title", "load", "a:1")
    assert letters[("other", "1")].error == "elsewhere"


def test_a_resolved_dead_letter_stays_in_the_history_when_the_record_fails_again(state_url):
    store = locked(state_url)
    commit(store, failed=[failure("1", "first")])
    commit(store, [Link("1", "a:1", "T1", "h")])
    commit(store, failed=[failure("1", "again")])
    assert [d.error for d in store.dead_letters()] == ["again"]
    assert sorted(d.error for d in store.dead_letters(unresolved_only=False)) == ["again", "first"]


def test_only_a_confirmed_write_resolves_a_dead_letter(state_url):
    store = locked(state_url)
    commit(store, failed=[failure("1"), failure("2"), failure("3")])
    store.record_batch(run_id="run-1", pipeline="other", source="a", target="b", loaded=[],
                       failed=[failure("1")], fenced=False)
    # "1" loaded; "2" exists in the target but not as sent (no hash): still failing
    commit(store, [Link("1", "a:1", "T1", "h"), Link("2", "a:2", "T2", None)])
    assert sorted((d.pipeline, d.source_id) for d in store.dead_letters()) == [
        ("a->b", "2"), ("a->b", "3"), ("other", "1")]
    (resolved,) = [d for d in store.dead_letters(unresolved_only=False) if d.resolved_at]
    assert (resolved.source_id, resolved.pipeline) == ("1", P)


def test_the_batch_commit_stores_the_run_s_totals_and_its_log(state_url):
    store = StateStore(state_url)
    run = store.start_run(P, "a", "b", "incremental", {})
    store.acquire_lock(P, run, ttl_seconds=60)
    long = "x" * 20_001
    store.record_batch(run_id=run, pipeline=P, source="a", target="b",
                       loaded=[Link("1", "a:1", "T1", "h")], failed=[],
                       counts={"created": 4, "failed": 1, "unknown": 9},
                       log=[LogEntry("1", "a:1", "T1", "create", "ok", "h", long, None),
                            LogEntry("2", "a:2", None, "fail", "failed", None, "{}", "boom")])
    assert (store.run(run).counts["created"], store.run(run).counts["failed"]) == (4, 1)
    (row,) = store.history("1")
    assert (row.operation, row.status, row.target_id, row.content_hash, row.run_id,
            row.pipeline) == ("create", "ok", "T1", "h", run, P)
    assert row.payload == "x" * 20_000 + "…(cut)"
    (failed,) = store.history("a:2")
    assert (failed.error, failed.payload) == ("boom", "{}")
    exact = "y" * 20_000
    store.record_batch(run_id=run, pipeline=P, source="a", target="b", loaded=[], failed=[],
                       log=[LogEntry("3", "a:3", "T3", "update", "ok", "h", exact)])
    assert store.history("3")[0].payload == exact


def test_history_by_external_id_includes_the_record_refused_for_that_id(state_url):
    """A second source record mapped to an external id another one holds is refused (a clash);
    asked for that external id, history shows both records' rows, newest first."""
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "T1", "h")],
           log=[LogEntry("1", "a:1", "T1", "create", "ok", "h", "{}")])
    commit(store, failed=[{"stage": "load", "source_id": "2", "external_id": "a:1",
                           "error": "external id a:1 is already used"}],
           log=[LogEntry("2", "a:1", None, "fail", "failed", "h2", "{}", "clash")])
    assert [(r.source_id, r.operation) for r in store.history("a:1")] == [
        ("2", "fail"), ("1", "create")]
    assert [(r.source_id, r.operation) for r in store.history("a:1", pipeline=P)] == [
        ("2", "fail"), ("1", "create")]
    assert store.history("a:1", pipeline="other->pipe") == []
    assert [r.source_id for r in store.history("1")] == ["1"]


def test_pruning_deletes_exactly_the_rows_older_than_the_period_a_chunk_at_a_time(state_url):
    store = locked(state_url)
    for n in range(1, 11):
        commit(store, log=[LogEntry(str(n), f"a:{n}", None, "create", "ok", "h", "{}")])
    old = datetime.now(UTC) - timedelta(days=91)
    with store._tx() as conn:  # rows 1-7 were written 91 days ago
        conn.execute(update(sync_log).where(sync_log.c.id <= 7).values(created_at=old))
    assert store.prune_log(90, chunk=3) == 7
    assert sorted(int(r.source_id) for n in range(1, 11) for r in store.history(str(n))) == [
        8, 9, 10]
    assert store.prune_log(90, chunk=3) == 0
    with store._tx() as conn:  # the rest 10 days ago
        conn.execute(update(sync_log).values(created_at=old + timedelta(days=81)))
    assert store.prune_log(11) == 0
    assert store.prune_log(9) == 3
    assert store.log_size() == 0


def test_an_unfenced_commit_is_only_for_callers_that_hold_no_lock(state_url):
    store = locked(state_url, "run-2")
    store.record_batch(run_id="run-1", pipeline=P, source="a", target="b",
                       loaded=[Link("1", "a:1", "T1", "h")], failed=[], fenced=False)
    assert list(store.links_for("a", "b", ["1"])) == ["1"]
    with pytest.raises(LockLost, match="now: run-2"):
        commit(store, [Link("2", "a:2", "T2", "h")], run="run-1")
    assert store.links_for("a", "b", ["2"]) == {}


def test_a_commit_with_no_lock_at_all_names_nobody(state_url):
    store = StateStore(state_url)
    with pytest.raises(LockLost, match="now: nobody"):
        commit(store, [Link("1", "a:1", "T1", "h")])


# -- locks ---------------------------------------------------------------------------------------


def test_only_the_holder_releases_the_lock(state_url):
    store = locked(state_url, "run-1")
    store.release_lock(P, "run-2")
    with pytest.raises(LockHeld, match="run-1"):
        store.acquire_lock(P, "run-3", ttl_seconds=60)
    assert store.heartbeat(P, "run-1") is True
    assert store.heartbeat(P, "run-2") is False
    store.release_lock(P, "run-1")
    assert store.heartbeat(P, "run-1") is False


def test_locks_of_other_pipelines_are_independent(state_url):
    store = locked(state_url, "run-1")
    assert store.acquire_lock("other", "run-2", ttl_seconds=60) is None
    store.release_lock("other", "run-2")
    with pytest.raises(LockHeld):
        store.acquire_lock(P, "run-3", ttl_seconds=60)


def test_a_heartbeat_moves_the_lock_s_clock(state_url):
    store = locked(state_url)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(heartbeat_at=old))
    assert store.heartbeat(P, "run-1") is True
    with store.engine.begin() as conn:
        beat = conn.execute(select(locks.c.heartbeat_at)).scalar_one()
    if beat.tzinfo is None:
        beat = beat.replace(tzinfo=UTC)
    assert beat > datetime.now(UTC) - timedelta(minutes=1)


def test_recovering_a_dead_holder_s_lock_marks_only_its_running_run_interrupted(state_url):
    store = StateStore(state_url)
    dead = store.start_run(P, "a", "b", "incremental", {})
    store.acquire_lock(P, dead, ttl_seconds=60)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(owner="elsewhere:1",
                                          heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    taker = store.start_run(P, "a", "b", "incremental", {})
    assert store.acquire_lock(P, taker, ttl_seconds=60) == dead
    (old,) = [r for r in store.runs() if r.id == dead]
    assert old.status == "interrupted" and old.finished_at is not None
    assert old.message == f"process died; lock recovered by {taker}"
    assert store.run(taker).status == "running"
    assert store.heartbeat(P, taker) is True and store.heartbeat(P, dead) is False
    with store.engine.begin() as conn:
        owner = conn.execute(select(locks.c.owner)).scalar_one()
    assert owner == f"{socket.gethostname()}:{__import__('os').getpid()}"
    # a run that had already finished keeps its status when its stale lock is taken
    with store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == taker).values(status="succeeded"))
        conn.execute(update(locks).values(owner="elsewhere:1",
                                          heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    assert store.acquire_lock(P, "run-3", ttl_seconds=60) == taker
    assert store.run(taker).status == "succeeded"


def test_of_two_runs_recovering_one_stale_lock_only_the_first_gets_it(state_url, monkeypatch):
    """Both read the same dead holder; the second's takeover must find the lock changed and give
    up, not overwrite the first (two runs of one pipeline would then write at once)."""
    import offering_sync.state.locks as lock_rules

    first, second = StateStore(state_url), StateStore(state_url)
    dead = first.start_run(P, "a", "b", "incremental", {})
    first.acquire_lock(P, dead, ttl_seconds=60)
    with first.engine.begin() as conn:
        conn.execute(update(locks).values(owner="elsewhere:1",
                                          heartbeat_at=datetime.now(UTC) - timedelta(hours=1)))
    judge = lock_rules.holder_is_alive
    raced: list[str | None] = []

    def meanwhile_the_other_run_recovers_it(owner, beat, at, ttl):
        if not raced:  # the second run has read the dead holder; the first takes over now
            raced.append(None)
            raced.append(first.acquire_lock(P, "run-first", ttl_seconds=60))
        return judge(owner, beat, at, ttl)

    monkeypatch.setattr(lock_rules, "holder_is_alive", meanwhile_the_other_run_recovers_it)
    with pytest.raises(LockHeld, match="took the stale lock first"):
        second.acquire_lock(P, "run-second", ttl_seconds=60)
    assert raced == [None, dead]
    assert first.heartbeat(P, "run-first") is True and second.heartbeat(P, "run-second") is False


def test_a_lock_is_alive_while_its_process_is_on_this_host_whatever_the_heartbeat():
    here, at = socket.gethostname(), datetime.now(UTC)
    ancient = at - timedelta(days=365)
    me = __import__("os").getpid()
    assert holder_is_alive(f"{here}:{me}", ancient, at, 1) is True
    assert holder_is_alive(f"{here}:4194999", at, at, 3600) is False  # no such process
    assert holder_is_alive(f"{here}:{2**70}", at, at, 3600) is False  # not a process id at all


def test_a_lock_from_another_host_lives_exactly_as_long_as_its_ttl():
    at = datetime.now(UTC)
    assert holder_is_alive("elsewhere:1", at - timedelta(seconds=60), at, 60) is True
    assert holder_is_alive("elsewhere:1", at - timedelta(seconds=61), at, 60) is False
    here = socket.gethostname()
    # an owner on this host without a process id can only be judged by its heartbeat
    assert holder_is_alive(f"{here}:x", at - timedelta(seconds=61), at, 60) is False
    assert holder_is_alive(f"{here}:x", at, at, 60) is True
    # a host whose name merely ends like ours is another host
    assert holder_is_alive(f"x{here}:1", at - timedelta(seconds=61), at, 60) is False


def test_a_process_we_may_not_signal_is_alive(monkeypatch):
    def refused(pid, sig):
        raise PermissionError(pid)

    monkeypatch.setattr("offering_sync.state.locks.os.kill", refused)
    at = datetime.now(UTC)
    assert holder_is_alive(f"{socket.gethostname()}:1", at - timedelta(days=1), at, 1) is True


# -- found by the complete mutation run of 2026-12-01 --------------------------------------------


def test_an_external_id_is_looked_up_in_that_pair_only_and_only_the_ids_asked(state_url):
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "T1", "h"), Link("2", "a:2", "T2", "h")])
    store.record_batch(run_id="run-1", pipeline="a->c", source="a", target="c",
                       loaded=[Link("9", "a:9", "C9", "h")], failed=[], fenced=False)
    assert store.links_by_external("a", "b", ["a:1", "a:9"]) == {"a:1": "1"}
    assert store.links_by_external("a", "c", ["a:1", "a:9"]) == {"a:9": "9"}


def test_records_the_reverse_pipeline_wrote_are_known_by_their_target_id(state_url):
    """Two-way sync: b's records that a->b created are a->b's own copies, never to send back."""
    store = locked(state_url)
    commit(store, [Link("1", "a:1", "B1", "h"), Link("2", "a:2", "B2", "h")])
    store.record_batch(run_id="run-1", pipeline="a->c", source="a", target="c",
                       loaded=[Link("3", "a:3", "B3", "h")], failed=[], fenced=False)
    assert store.links_by_target("a", "b", ["B1", "B3", "B9"]) == {
        "B1": Link("1", "a:1", "B1", "h")}
    assert store.written_by("b", "a", ["B1", "B2", "B3", "B9"]) == {"B1", "B2"}
    assert store.written_by("b", "c", ["B1", "B2"]) == set()


def test_recording_an_intent_leaves_the_other_records_intents_alone(state_url):
    store = locked(state_url)
    store.record_intents(P, "run-1", [("a:1", {"title": "One"})])
    store.record_intents(P, "run-1", [("a:2", {"title": "Two"})])
    assert sorted(store.open_intents(P, ["a:1", "a:2"])) == ["a:1", "a:2"]


def test_a_batch_commit_settles_only_its_own_records_intents(state_url):
    store = locked(state_url)
    store.record_intents(P, "run-1", [("a:1", {"title": "One"}), ("a:2", {"title": "Two"}),
                                      ("a:3", {"title": "Three"})])
    commit(store, [Link("1", "a:1", "T1", "h")], settle=["a:2"])
    assert list(store.open_intents(P, ["a:1", "a:2", "a:3"])) == ["a:3"]


def test_a_resolved_dead_letter_keeps_when_it_was_resolved(state_url):
    store = locked(state_url)
    commit(store, failed=[failure("1")])
    commit(store, [Link("1", "a:1", "T1", "h")])
    (first,) = store.dead_letters(unresolved_only=False)
    commit(store, [Link("1", "a:1", "T1", "h2")], run="run-1")
    (again,) = store.dead_letters(unresolved_only=False)
    assert first.resolved_at is not None and again.resolved_at == first.resolved_at


def test_a_dead_letter_without_attempts_or_parked_is_a_first_failure_due_for_retry(state_url):
    store = locked(state_url)
    commit(store, failed=[failure("1")])
    (letter,) = store.dead_letters()
    assert (letter.attempts, letter.parked) == (1, False)


def test_the_portable_link_upsert_writes_the_same_links(state_url):
    """Databases without ON CONFLICT take the update-else-insert path; links end up the same."""
    store = locked(state_url)
    store.engine.dialect.name = "portable"  # the branch for any other database
    try:
        commit(store, [Link("1", "a:1", "T1", "h1"), Link("2", "a:2", "T2", "h2")])
        store.record_batch(run_id="run-1", pipeline="a->c", source="a", target="c",
                           loaded=[Link("1", "a:1", "C1", "c1")], failed=[], fenced=False)
        commit(store, [Link("1", "a:1", "T1b", "h1b", "v2", "s2"), Link("3", "a:3", "T3", "h3")])
    finally:
        del store.engine.dialect.name
    assert store.links_for("a", "b", ["1", "2", "3"]) == {
        "1": Link("1", "a:1", "T1b", "h1b", "v2", "s2"), "2": Link("2", "a:2", "T2", "h2"),
        "3": Link("3", "a:3", "T3", "h3")}
    assert store.links_for("a", "c", ["1"]) == {"1": Link("1", "a:1", "C1", "c1")}


def test_a_recovered_lock_beats_from_the_moment_it_is_taken(state_url):
    store = StateStore(state_url)
    store.acquire_lock(P, "run-1", ttl_seconds=60)
    old = datetime(2000, 1, 1, tzinfo=UTC)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(owner="elsewhere:1", heartbeat_at=old, acquired_at=old))
    assert store.acquire_lock(P, "run-2", ttl_seconds=60) == "run-1"
    with store.engine.begin() as conn:
        row = conn.execute(select(locks)).mappings().one()
    recent = datetime.now(UTC) - timedelta(minutes=5)
    for column in ("heartbeat_at", "acquired_at"):
        stamp = row[column] if row[column].tzinfo else row[column].replace(tzinfo=UTC)
        assert stamp > recent, column  # else another host would find it stale at once


def test_checking_whether_a_holder_is_alive_never_signals_it():
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        at = datetime.now(UTC)
        assert holder_is_alive(f"{socket.gethostname()}:{child.pid}", at, at, 1) is True
        time.sleep(0.2)
        assert child.poll() is None  # still running: the check sent signal 0 only
    finally:
        child.kill()
        child.wait()
