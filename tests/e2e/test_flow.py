"""The Prefect flow end to end: real emulators on loopback, Prefect's test harness."""

import json
import re
import time

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from tests.conftest import SENTINEL_DC_TOKEN, SENTINEL_SF_SECRET


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    from offering_sync.flows import prefect_defaults

    prefect_defaults()  # the recorder and telemetry defaults, before Prefect starts

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


@pytest.fixture
def live(monkeypatch, tmp_path):
    catalog = digitalchalk.Catalog(130, seed=21)
    catalog.edit(catalog.offering_id(4), {"currencyCode": "DOLLARS"})
    sf_app = salesforce.create_app(client_secret=SENTINEL_SF_SECRET)
    with server.serve_in_thread(digitalchalk.create_app(catalog, token=SENTINEL_DC_TOKEN)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        for key, value in {
            "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
            "OFFERING_SYNC_DIGITALCHALK_BASE_URL": dc.url + "/dc/api/v5",
            "OFFERING_SYNC_DIGITALCHALK_TOKEN": SENTINEL_DC_TOKEN,
            "OFFERING_SYNC_SALESFORCE_BASE_URL": sf.url,
            "OFFERING_SYNC_SALESFORCE_CLIENT_ID": salesforce.DEMO_CLIENT_ID,
            "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": SENTINEL_SF_SECRET,
            "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "50",
        }.items():
            monkeypatch.setenv(key, value)
        sf_app.state.source_catalog = catalog  # for tests that edit the source
        yield sf_app


def test_the_flow_syncs_publishes_artifacts_and_runs_one_task_per_batch(prefect_harness, live):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from offering_sync.flows.sync import sync_offerings

    state = sync_offerings(source="digitalchalk", target="salesforce", return_state=True)
    assert state.is_completed()
    # Not a clean run: a named state whose message says so and gives the counts.
    assert state.name == "Completed with failures"
    assert state.message.startswith("1 of 130 records failed: see dead letters")
    assert "130 extracted · 129 created · 1 failed" in state.message
    result = state.result()
    assert (result["created"], result["failed"], result["batches"]) == (129, 1, 3)
    assert len(live.state.org.offerings) == 129
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        assert re.fullmatch(r"digitalchalk→salesforce incremental "
                            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ [0-9a-f]{6}", flow_run.name)
        assert flow_run.name.endswith(str(flow_run.id)[:6])
        assert flow_run.state.message == state.message
        batch_tasks = []
        deadline = time.monotonic() + 30  # the server records task runs from events, later
        while len(batch_tasks) < 1 and time.monotonic() < deadline:
            batch_tasks = [t for t in client.read_task_runs() if t.flow_run_id == flow_run.id]
            time.sleep(0.2)
        # One task per group of batches (issue 17): the three batches load at once (Salesforce
        # CONCURRENCY 5), so one load-batches task covers them; its log names each batch.
        assert sorted(t.name for t in batch_tasks) == ["create-batches-1-3"]
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["digitalchalk-salesforce-run-summary",
                                        "digitalchalk-salesforce-dead-letters"])))
    by_key = {a.key: a for a in artifacts if a.flow_run_id == flow_run.id}
    summary = by_key["digitalchalk-salesforce-run-summary"].data
    assert '"created": 129' in summary.replace("'", '"') or "129" in summary
    assert "1 records not synced" in summary
    dead = json.loads(by_key["digitalchalk-salesforce-dead-letters"].data)
    (letter,) = dead
    assert "currency" in letter["error"] and "DOLLARS" in letter["error"]
    # the error column gives the reason; the record id has its own column
    assert letter["source_id"] not in letter["error"] and not letter["error"].startswith("record")
    with get_client(sync_client=True) as client:
        logs, deadline = "", time.monotonic() + 30  # logs reach the API in batches
        while "create-batch-3" not in logs and time.monotonic() < deadline:
            time.sleep(0.3)
            logs = "\n".join(log.message for log in client.read_logs())
        params = repr(client.read_flow_run(flow_run.id).parameters)
    everything = logs + params + "".join(str(a.data) for a in artifacts)
    assert "130 records read in 2 pages: " in everything  # the engine's lines were read too
    for secret in (SENTINEL_DC_TOKEN, SENTINEL_SF_SECRET, *live.state.tokens):
        assert secret not in everything


def test_a_bad_parameter_fails_the_flow_with_a_readable_message(prefect_harness, live):
    from offering_sync.flows.sync import sync_offerings

    state = sync_offerings(source="digitalchalk", target="nowhere", return_state=True)
    assert state.is_failed()
    assert "target" in state.message and "salesforce" in str(state.result(raise_on_failure=False))
    late = sync_offerings(source="digitalchalk", target="salesforce", since="2026-02-01",
                          until="2026-01-01", return_state=True)
    assert late.is_failed() and "before since" in str(late.result(raise_on_failure=False))
    # a mix of a zoned and a naive moment is compared in UTC, not a raw TypeError
    mixed = sync_offerings(source="digitalchalk", target="salesforce",
                           since="2026-02-01T00:00:00+02:00", until="2026-01-31T21:30:00",
                           return_state=True)
    assert mixed.is_failed()
    assert mixed.message == ("until 2026-01-31T21:30:00+00:00 is before since "
                             "2026-01-31T22:00:00+00:00: the window is empty; swap them or "
                             "leave one out")
    fine = sync_offerings(source="digitalchalk", target="salesforce",
                          since="2026-02-01T00:00:00+02:00", until="2026-01-31T23:30:00",
                          return_state=True)
    assert fine.is_completed(), fine.message


def test_a_failure_no_retry_can_fix_is_not_retried(prefect_harness, live, monkeypatch):
    from offering_sync.flows.sync import sync_offerings

    monkeypatch.delenv("OFFERING_SYNC_SALESFORCE_CLIENT_ID")
    started = time.monotonic()
    state = sync_offerings.with_options(retries=2, retry_delay_seconds=30)(
        source="digitalchalk", target="salesforce", return_state=True)
    assert state.is_failed() and "client_id" in state.message.lower().replace(" ", "_")
    assert time.monotonic() - started < 25  # no AwaitingRetry, no 30 s delay


def test_the_run_form_describes_every_parameter():
    from prefect.utilities.callables import parameter_schema

    from offering_sync.flows.reconcile import reconcile_offerings
    from offering_sync.flows.sync import sync_offerings

    for flow in (sync_offerings, reconcile_offerings):
        properties = parameter_schema(flow).model_dump()["properties"]
        assert properties and all(p.get("description") for p in properties.values()), flow.name
    sync = parameter_schema(sync_offerings).model_dump()["properties"]
    assert "UTC" in sync["since"]["description"]
    assert sync["target"]["enum"] == ["digitalchalk", "salesforce", "rhythm", "smarterproctoring"]


def test_the_outcome_of_a_run_names_its_state_and_counts_whatever_the_engine_counts():
    from offering_sync.flows.artifacts import reason
    from offering_sync.flows.outcome import final_state

    clean = final_state({"status": "succeeded", "extracted": 4000, "created": 3990,
                         "updated": 10, "unchanged": 0, "failed": 0, "batches": 20,
                         "seconds": 3.5, "dry_run": False, "message": None})
    assert (clean.name, clean.message) == ("Completed",
                                           "4,000 extracted · 3,990 created · 10 updated")
    partial = final_state({"status": "succeeded", "extracted": 4000, "created": 3907,
                           "failed": 93, "conflicts": 2, "missing_in_source": 5,
                           "dry_run": False, "message": None})
    assert partial.name == "Completed with failures" and partial.is_completed()
    assert partial.message == ("93 of 4,000 records failed: see dead letters. 4,000 extracted"
                               " · 3,907 created · 93 failed · 2 conflicts · 5 missing in source")
    quota = final_state({"status": "stopped", "extracted": 50, "created": 40, "failed": 10,
                         "message": "Salesforce's daily API quota is used up"})
    assert quota.name == "Completed with failures"
    assert quota.message.startswith("Salesforce's daily API quota is used up; 10 of 50")
    sunk = final_state({"status": "failed", "extracted": 10, "created": 2, "failed": 8,
                        "message": None})
    assert sunk.is_failed() and sunk.message.startswith("8 of 10 records failed, over the")
    assert reason("record abc: salesforce said: bad currency", "abc") == \
        "salesforce said: bad currency"
    assert reason("record ?: not sent: quota", None) == "not sent: quota"
    assert reason("value 'x' is not a date", "abc") == "value 'x' is not a date"


def test_progress_shows_a_share_only_when_the_source_gives_a_total(prefect_harness):
    from types import SimpleNamespace

    from prefect import flow, get_client

    from offering_sync.flows.artifacts import Progress

    seen = []

    def read(artifact_id):
        with get_client(sync_client=True) as client:
            found = client.read_artifacts()
        (artifact,) = [a for a in found if a.id == artifact_id]
        return artifact.data, artifact.description

    @flow
    def watch() -> None:
        progress = Progress("a->b", every=0)
        progress.update(SimpleNamespace(extracted=1500))
        seen.append(read(progress.id))
        progress.update(SimpleNamespace(extracted=500), 2000)  # the engine passes a total
        seen.append(read(progress.id))
        progress.update(SimpleNamespace(extracted=1000, source_total=4000))  # as the engine does
        seen.append(read(progress.id))
        progress.finish(4000)
        seen.append(read(progress.id))

    watch()
    assert seen == [(0.0, "1,500 records so far (the source gives no total, so no percentage)"),
                    (25.0, "500 of 2,000 records read"), (25.0, "1,000 of 4,000 records read"),
                    (100.0, "done: 4,000 records read")]


def test_the_retry_deployment_flow_reloads_what_was_fixed_in_the_source(prefect_harness, live):
    import os

    from offering_sync.flows.retry import retry_dead_letters_flow
    from offering_sync.flows.sync import sync_offerings
    from offering_sync.state import StateStore

    sync_offerings(source="digitalchalk", target="salesforce", return_state=True)
    store = StateStore(os.environ["OFFERING_SYNC_STATE_URL"])
    (dead,) = store.dead_letters()
    live.state.source_catalog.edit(dead.source_id, {"currencyCode": "USD"})  # fixed upstream
    (result,) = retry_dead_letters_flow(pipeline="digitalchalk:salesforce")
    assert (result["pipeline"], result["retried"], result["created"]) == \
        ("digitalchalk->salesforce", 1, 1)
    assert store.dead_letters() == []


def test_importing_the_flows_changes_nothing_global():
    import subprocess
    import sys

    probe = ("import logging, os\n"
             "env, factory = dict(os.environ), logging.getLogRecordFactory()\n"
             "import offering_sync.flows.sync, offering_sync.flows.reconcile, "
             "offering_sync.flows.retry\n"
             "assert dict(os.environ) == env, set(os.environ) ^ set(env)\n"
             "assert logging.getLogRecordFactory() is factory\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("PREFECT_")}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
