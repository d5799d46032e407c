"""The state store on SQLite and (when configured) PostgreSQL."""

import os

import pytest

from offering_sync.errors import LockHeld, StateError
from offering_sync.state import Link, StateStore


def test_migrations_run_on_open_and_twice_is_harmless(state_url):
    StateStore(state_url)
    store = StateStore(state_url)
    assert store.runs() == []


def test_runs_record_their_counts_and_outcome(state_url):
    store = StateStore(state_url)
    run = store.start_run("a->b", "a", "b", "incremental", {"since": None})
    store.finish_run(run, "succeeded", {"extracted": 3, "created": 2, "updated": 0,
                                        "unchanged": 1, "failed": 0})
    (row,) = store.runs()
    assert (row.id, row.status, row.counts["created"], row.finished_at is not None) == \
        (run, "succeeded", 2, True)


def test_links_upsert_and_dead_letters_resolve_when_the_record_loads(state_url):
    store = StateStore(state_url)
    run = store.start_run("a->b", "a", "b", "incremental", {})
    store.record_batch(run_id=run, pipeline="a->b", source="a", target="b", loaded=[],
                       failed=[{"stage": "load", "source_id": "1", "error": "boom",
                                "field": "x"}])
    assert [d.source_id for d in store.dead_letters()] == ["1"]
    store.record_batch(run_id=run, pipeline="a->b", source="a", target="b",
                       loaded=[Link("1", "a:1", "T1", "h1"), Link("2", "a:2", "T2", "h2")],
                       failed=[])
    store.record_batch(run_id=run, pipeline="a->b", source="a", target="b",
                       loaded=[Link("1", "a:1", "T1", "h9")], failed=[])
    links = store.links_for("a", "b", ["1", "2", "3"])
    assert links["1"].content_hash == "h9" and links["2"].target_id == "T2" and "3" not in links
    assert store.dead_letters() == []
    assert store.dead_letters(unresolved_only=False)[0].resolved_at is not None


def test_cursors_store_and_clear(state_url):
    store = StateStore(state_url)
    store.set_cursor("p", "w", "2026-01-01T00:00:00+00:00")
    assert store.get_cursor("p", "w") == "2026-01-01T00:00:00+00:00"
    store.set_cursor("p", "w", None)
    assert store.get_cursor("p", "w") is None


def test_a_live_lock_refuses_a_second_run(state_url):
    store = StateStore(state_url)
    store.acquire_lock("p", "run-1", ttl_seconds=60)
    with pytest.raises(LockHeld, match="run-1"):
        store.acquire_lock("p", "run-2", ttl_seconds=60)
    store.release_lock("p", "run-1")
    assert store.acquire_lock("p", "run-2", ttl_seconds=60) is None


def test_a_stale_lock_from_a_dead_process_is_recovered(state_url):
    import socket

    from sqlalchemy import update

    from offering_sync.state.tables import locks

    store = StateStore(state_url)
    dead = store.start_run("p", "a", "b", "incremental", {})
    store.acquire_lock("p", dead, ttl_seconds=60)
    with store.engine.begin() as conn:  # a process id that cannot exist on this host
        conn.execute(update(locks).values(owner=f"{socket.gethostname()}:4194999"))
    assert store.acquire_lock("p", "run-2", ttl_seconds=60) == dead
    assert store.run(dead).status == "interrupted"


def test_an_unreachable_database_is_one_clear_error():
    with pytest.raises(StateError, match="not usable"):
        StateStore("postgresql://nobody:secretpw@127.0.0.1:9/none")


@pytest.mark.skipif(not os.environ.get("OFFERING_SYNC_TEST_POSTGRES_URL"),
                    reason="needs OFFERING_SYNC_TEST_POSTGRES_URL")
def test_the_password_never_appears_in_the_error():
    with pytest.raises(StateError) as info:
        StateStore("postgresql://nobody:secretpw@127.0.0.1:9/none")
    assert "secretpw" not in str(info.value)
