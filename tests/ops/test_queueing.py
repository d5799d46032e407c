"""Overlapping runs of one pipeline queue instead of failing.

Two backfills a few seconds apart and a scheduled incremental meeting them (issue 12: they
ended Failed with ``LockHeld``). The shipped prefect.yaml gives each deployment
``concurrency_limit: 1`` with ``collision_strategy: ENQUEUE``; runs of one pipeline from
different deployments take turns on the ``pipeline-<source>-<target>`` slot in the flow.
"""

from collections import Counter

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.server import connection_env
from offering_sync.state import StateStore
from tests.ops.conftest import (
    deploy,
    logs_of,
    project_deployments,
    run_deployment,
    state_names,
    wait_final,
)

RECORDS = 150
BACKFILL = "sync-offerings/digitalchalk-to-salesforce-backfill"
INCREMENTAL = "sync-offerings/digitalchalk-to-salesforce-incremental"


@pytest.mark.slow
def test_three_overlapping_runs_of_one_pipeline_all_complete_one_after_another(
        production_server, tmp_path):
    pool = production_server.pool("ops-queue")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    spec = project_deployments(pool, names=["digitalchalk-to-salesforce-incremental",
                                            "digitalchalk-to-salesforce-backfill"],
                               env={"OFFERING_SYNC_SLOT_LOG_SECONDS": "2"})
    sf_app = salesforce.create_app(post_seconds=0.3)
    catalog = digitalchalk.Catalog(RECORDS, seed=5)
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
               "OFFERING_SYNC_STATE_URL": state_url, "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "10"}
        deploy(production_server, spec, tmp_path)
        ids = [run_deployment(production_server, BACKFILL, full_refresh=True),
               run_deployment(production_server, BACKFILL, full_refresh=True),
               run_deployment(production_server, INCREMENTAL)]
        with production_server.worker(env, "queue-worker-1", pool), \
                production_server.worker(env, "queue-worker-2", pool):
            runs = wait_final(production_server, ids, timeout=240)
    assert [r.state.name for r in runs] == ["Completed"] * 3, [r.state.message for r in runs]
    # One backfill queued in Prefect behind the other instead of failing.
    histories = [state_names(production_server, i) for i in ids]
    assert ["AwaitingConcurrencySlot" in h for h in histories[:2]].count(True) == 1, histories
    # The incremental and the first backfill started together on two workers; one waited for
    # the pipeline's turn, and said so.
    waits = [logs_of(production_server, i, containing="pipeline-digitalchalk-salesforce",
                     timeout=10) for i in ids]
    assert any("for a slot of global concurrency limit pipeline-digitalchalk-salesforce" in w
               for w in waits), waits
    # In the state store: three runs, all succeeded, none refused, never two at once.
    store = StateStore(state_url)
    history = sorted(store.runs(limit=10), key=lambda r: r.started_at)
    store.close()
    assert [r.status for r in history] == ["succeeded"] * 3
    for earlier, later in zip(history, history[1:], strict=False):
        assert earlier.finished_at <= later.started_at
    assert sum(r.counts["created"] for r in history) == RECORDS
    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert len(held) == RECORDS and set(held.values()) == {1}
    assert sf_app.state.max_in_flight == 1
