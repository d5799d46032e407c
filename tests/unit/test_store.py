"""The state store on SQLite and (when configured) PostgreSQL."""


from datetime import UTC, datetime

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
    store.acquire_lock("a->b", run, ttl_seconds=60)
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


@pytest.mark.parametrize("url", ["postgresql://nobody:secretpw@127.0.0.1:9/none",
                                 "postgresql://nobody:se@cret@pw@127.0.0.1:9/none"])
def test_the_password_never_appears_in_the_error(url):
    with pytest.raises(StateError) as info:
        StateStore(url)
    text = str(info.value)
    assert "secret" not in text and "pw@" not in text and "cret" not in text
    assert "nobody:***@127.0.0.1:9/none" in text


def test_a_live_process_keeps_its_lock_however_old_its_heartbeat(state_url):
    from sqlalchemy import update

    from offering_sync.state.tables import locks

    store = StateStore(state_url)
    store.acquire_lock("p", "run-1", ttl_seconds=1)
    with store.engine.begin() as conn:  # a heartbeat an hour old, but our own process is alive
        conn.execute(update(locks).values(heartbeat_at=__import__("datetime").datetime(
            2020, 1, 1, tzinfo=__import__("datetime").UTC)))
    with pytest.raises(LockHeld):
        store.acquire_lock("p", "run-2", ttl_seconds=1)


def test_a_silent_lock_from_another_host_is_recovered_after_the_ttl(state_url):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from offering_sync.state.tables import locks

    store = StateStore(state_url)
    store.acquire_lock("p", "run-1", ttl_seconds=60)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(owner="elsewhere:1", heartbeat_at=datetime.now(UTC)))
    with pytest.raises(LockHeld):
        store.acquire_lock("p", "run-2", ttl_seconds=60)
    with store.engine.begin() as conn:
        conn.execute(update(locks).values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=5)))
    assert store.acquire_lock("p", "run-2", ttl_seconds=60) == "run-1"


def test_a_run_that_lost_its_lock_cannot_record_a_batch(state_url):
    from offering_sync.errors import LockLost

    store = StateStore(state_url)
    store.acquire_lock("p", "run-1", ttl_seconds=60)
    store.release_lock("p", "run-1")
    store.acquire_lock("p", "run-2", ttl_seconds=60)
    assert store.heartbeat("p", "run-1") is False
    with pytest.raises(LockLost, match="run-1 no longer holds the lock of p"):
        store.record_batch(run_id="run-1", pipeline="p", source="a", target="b",
                           loaded=[Link("1", "a:1", "T1", "h")], failed=[])
    assert store.links_for("a", "b", ["1"]) == {}


def test_a_deleted_sqlite_file_is_a_state_error_not_silence(tmp_path):
    path = tmp_path / "state.db"
    store = StateStore(f"sqlite:///{path}")
    store.start_run("p", "a", "b", "incremental", {})
    path.unlink()
    with pytest.raises(StateError, match="was deleted or replaced"):
        store.start_run("p", "a", "b", "incremental", {})


def test_a_sqlite_file_in_a_missing_folder_names_the_folder(tmp_path):
    with pytest.raises(StateError, match=f"folder {tmp_path / 'nope'} does not exist"):
        StateStore(f"sqlite:///{tmp_path / 'nope' / 'state.db'}")


def test_postgres_scheme_gets_a_hint():
    with pytest.raises(StateError, match="use postgresql://"):
        StateStore("postgres://u@127.0.0.1/db")


def test_database_errors_carry_no_sql_and_no_row_data(state_url):
    store = StateStore(state_url)
    run = store.start_run("p", "a", "b", "incremental", {})
    store.acquire_lock("p", run, ttl_seconds=60)
    store.record_batch(run_id=run, pipeline="p", source="a", target="b",
                       loaded=[Link("1", "a:SECRET-ROW", "T1", "h")], failed=[])
    with pytest.raises(StateError) as info:  # another source id, same external id
        store.record_batch(run_id=run, pipeline="p", source="a", target="b",
                           loaded=[Link("2", "a:SECRET-ROW", "T2", "h")], failed=[])
    assert "SECRET-ROW" not in str(info.value) and "INSERT" not in str(info.value)


def test_upgrading_a_store_keeps_what_a_list_merge_needs_and_drops_the_log_s_indexes(state_url):
    """A store written before revision 0004 kept our last writes only in the log; the upgrade
    copies each linked record's newest successful payload onto its link before the log's
    indexes go, so the first merge after the upgrade still knows what we wrote."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from offering_sync.state import base

    old = StateStore(state_url, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(base._MIGRATIONS))
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(text(
            "INSERT INTO record_links (source_system, target_system, source_id, external_id, "
            "state, updated_at) VALUES ('a', 'b', '1', 'a:1', 'active', CURRENT_TIMESTAMP), "
            "('a', 'b', '2', 'a:2', 'active', CURRENT_TIMESTAMP)"))
        conn.execute(text(
            "INSERT INTO sync_log (run_id, pipeline, source_id, operation, status, payload, "
            "created_at) VALUES (:run, :pipeline, :sid, :op, :status, :payload, :at)"), [
            {"run": run, "pipeline": pipeline, "sid": sid, "op": op, "status": status,
             "payload": payload, "at": datetime.now(UTC)}
            for run, pipeline, sid, op, status, payload in [
                ("r1", "a->b", "1", "create", "ok", '{"v":1}'),
                ("r2", "a->b", "1", "update", "ok", '{"v":2}'),
                ("r3", "a->b", "1", "fail", "failed", '{"v":3}'),
                ("r3", "x->b", "2", "create", "ok", '{"other":1}')]])
    old.close()
    store = StateStore(state_url)
    assert store.last_sent("a", "b", ["1", "2", "3"]) == {"1": '{"v":2}'}
    assert [i["name"] for i in inspect(store.engine).get_indexes("sync_log")] == []
    assert [r.operation for r in store.history("1")] == ["fail", "update", "create"]


def test_a_store_written_by_a_newer_version_is_one_sentence_naming_both_revisions(state_url):
    from sqlalchemy import text

    StateStore(state_url).close()
    with StateStore(state_url, migrate=False).engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StateError) as caught:
        StateStore(state_url)
    message = str(caught.value)
    assert "has schema revision 0099, newer than this offering-sync knows (up to 0004)" in message
    assert "\n" not in message and "CommandError" not in message
