"""Issue 16: rejected records are retried by later runs on their own, without holding the
pipeline back, and every record's history answers "what happened to this offering?"."""

import json

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.engine import sync_pipeline
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.systems import System

WATERMARK = "modified_since"


class RefusingSalesforce:
    """The real Salesforce connector, sending one offering with a session the org refuses."""

    def __init__(self, system: System, refuse: set[str]) -> None:
        self.inner, self.refuse = system.target(), refuse

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def upsert(self, batch, *, overwrite, policy):
        from dataclasses import replace

        def spoil(request):
            if request.key not in self.refuse:
                return request
            body = {**request.payload["courseOffering"], "academicSessionId": "0vcNOPE"}
            return replace(request, payload={"courseOffering": body})

        return self.inner.upsert([spoil(r) for r in batch], overwrite=overwrite, policy=policy)


def test_a_rejected_record_loads_on_a_later_run_without_any_command(sqlite_url):
    source, target = System("rhythm", 30), System("salesforce")
    store = StateStore(sqlite_url)
    bad_id = sorted(source.stored())[4]
    refuse = {f"rhythm:{bad_id}"}

    def run():
        pipeline = build_pipeline("rhythm", "salesforce", CoreSettings(),
                                  source_connector=source.source(),
                                  target_connector=RefusingSalesforce(target, refuse))
        return sync_pipeline(pipeline, store)

    first = run()
    assert (first.counts.created, first.counts.failed) == (29, 1)
    mark = store.get_cursor("rhythm->salesforce", WATERMARK)

    other = sorted(source.stored())[9]
    source.rename(other, "Edited between runs")
    second = run()  # still refused; the rest of the pipeline moves on
    assert second.counts.updated == 1 and second.counts.failed == 1
    assert store.get_cursor("rhythm->salesforce", WATERMARK) > mark

    refuse.clear()  # someone fixed the session in the org
    third = run()
    assert (third.counts.created, third.counts.failed, third.counts.retried) == (1, 0, 1)
    assert store.dead_letters() == []
    assert len(target.stored()) == 30
    history = store.history(bad_id)
    assert [(r.operation, r.status) for r in history] == [("create", "ok"), ("fail", "failed"),
                                                          ("fail", "failed")]
    assert [r.run_id for r in history] == [third.run_id, second.run_id, first.run_id]


@pytest.mark.slow
def test_a_record_that_stays_bad_does_not_slow_later_runs(sqlite_url):
    """10 incremental runs over 10,000 offerings with one bad one: the window plus that one."""
    source, target = System("rhythm", 10_000), System("salesforce")
    store = StateStore(sqlite_url)
    bad_id = sorted(source.stored())[123]
    source.stored()[bad_id]["start_date"] = "not a date"

    def run():
        return sync_pipeline(build_pipeline("rhythm", "salesforce", CoreSettings(),
                                            source_connector=source.source(),
                                            target_connector=target.target(batch_size=200)),
                             store)

    first = run()
    assert (first.counts.created, first.counts.failed) == (9_999, 1)
    mark = store.get_cursor("rhythm->salesforce", WATERMARK)
    boundary = sum(1 for r in source.stored().values() if r["sys_last_modified_at"][:23]
                   >= mark[:23].replace("+00:00", ""))  # re-read at the watermark's instant
    for _ in range(10):
        later = run()
        # the window (only its boundary instant: nothing changed) plus, when due, the bad one
        assert later.counts.extracted <= boundary + 1
        assert later.counts.created == later.counts.updated == later.counts.failed == 0
    assert len(store.dead_letters()) == 1


def test_history_tells_a_records_whole_story(state_url):
    source, target = System("rhythm", 3), System("smarterproctoring")
    store = StateStore(state_url)
    sid, never = sorted(source.stored())[:2]
    bad = source.stored()[never]
    bad["end_date"] = "2020-01-01T00:00:00Z"  # refused from its first run on: never linked

    def run(**options):
        pipeline = build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                                  source_connector=source.source(),
                                  target_connector=target.target())
        return sync_pipeline(pipeline, store, CoreSettings().options(**options))

    created = run()
    source.rename(sid, "First rename")
    updated_once = run()
    source.rename(sid, "Second rename")
    updated_twice = run()
    record = source.stored()[sid]
    good_end = record["end_date"]
    record["end_date"] = "2020-01-01T00:00:00Z"  # before its start: refused while mapping
    source.rename(sid, "Third rename")
    failed = run()
    record["end_date"] = good_end
    source.rename(sid, "Fixed")
    fixed = run()
    rows = store.history(sid)
    assert [(r.operation, r.status, r.run_id) for r in rows] == [
        ("update", "ok", fixed.run_id), ("fail", "failed", failed.run_id),
        ("update", "ok", updated_twice.run_id),
        ("update", "ok", updated_once.run_id), ("create", "ok", created.run_id)]
    sent = json.loads(rows[0].payload or "")
    assert sent["title"] == "Fixed"
    (letter,) = [d for d in store.dead_letters(unresolved_only=False) if d.source_id == sid]
    assert letter.run_id == failed.run_id and letter.resolved_at is not None
    assert sent["matchStrings"] == ["Fixed"]  # our old titles no longer match
    # by external id too: the same record's whole story, the row of its mapping failure included
    assert store.history(f"rhythm:{sid}") == rows
    # a record that failed before it was ever written is found by its external id as well
    for pipeline in (None, "rhythm->smarterproctoring"):
        never_rows = store.history(f"rhythm:{never}", pipeline=pipeline)
        assert never_rows and {(r.operation, r.source_id, r.external_id) for r in never_rows} \
            == {("fail", never, f"rhythm:{never}")}


def test_the_history_command_answers_from_the_cli(tmp_path):
    import json

    from tests.e2e.test_cli import run as cli

    source, target = System("rhythm", 2), System("smarterproctoring")
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = StateStore(url)
    sync_pipeline(build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                                 source_connector=source.source(),
                                 target_connector=target.target()), store)
    sid = sorted(source.stored())[0]
    import os

    env = {**os.environ, "OFFERING_SYNC_STATE_URL": url}
    done = cli("history", sid, "--json", env=env)
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(done.stdout)
    assert row["operation"] == "create" and row["sent"]["title"]
    text = cli("history", sid, env={**env, "COLUMNS": "200"})
    assert text.returncode == 0, text.stderr
    assert f"what was written last (to rhythm → smarterproctoring, run {row['run_id'][:8]}): " \
        in text.stdout and "--limit shows more" not in text.stdout
    missing = cli("history", "no-such-record", env=env)
    assert missing.returncode == 2 and "no sync log for 'no-such-record'" in missing.stderr
    assert "dead-letters list" in missing.stderr
