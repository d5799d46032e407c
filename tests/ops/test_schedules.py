"""Schedules fire: runs the server's scheduler creates complete through a worker.

Issue 12 found cron deployments that never got a run (SQLAlchemy 2.1 broke Prefect 3.8.8's
scheduler) while every test started runs by hand. Here nothing starts a run but the scheduler.
"""

import json
import time
from collections import Counter

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.server import connection_env
from tests.ops.conftest import deploy, project_deployments, shipped

RECORDS = 60


@pytest.mark.slow
def test_an_interval_schedule_fires_and_its_runs_complete_through_a_worker(production_server,
                                                                           tmp_path):
    pool = production_server.pool("ops-schedule")
    every_10s = {**shipped("digitalchalk-to-salesforce-incremental"),
                 "name": "digitalchalk-to-salesforce-every-10s",
                 "schedules": [{"interval": 10}]}
    spec = project_deployments(pool, names=[], extra=[every_10s], schedules=True)
    sf_app = salesforce.create_app()
    with server.serve_in_thread(digitalchalk.create_app(digitalchalk.Catalog(RECORDS, seed=3))
                                ) as dc, server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
               "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
        deploy(production_server, spec, tmp_path)
        with production_server.client() as client:
            deployment = client.read_deployment_by_name(
                "sync-offerings/digitalchalk-to-salesforce-every-10s")
        try:
            with production_server.worker(env, "scheduled-worker", pool):
                done = _completed_scheduled_runs(production_server, deployment.id, want=2)
        finally:
            with production_server.client() as client:
                client.delete_deployment(deployment.id)  # and with it the runs still to come
    assert len(done) >= 2 and all(r.auto_scheduled for r in done)
    assert all(r.state.name == "Completed" for r in done), [r.state.message for r in done]
    first, second = sorted(done, key=lambda r: r.expected_start_time)[:2]
    assert first.state.message == f"{RECORDS} extracted · {RECORDS} created"
    assert second.state.message == f"{RECORDS} extracted · {RECORDS} unchanged"
    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert len(held) == RECORDS and set(held.values()) == {1}
    assert json.loads(json.dumps(second.parameters)) == {"source": "digitalchalk",
                                                         "target": "salesforce"}


def _completed_scheduled_runs(prefect, deployment_id, want, timeout=180):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    deadline = time.monotonic() + timeout
    with prefect.client() as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment_id])))
            done = [r for r in runs if r.state and r.state.is_final()]
            if len(done) >= want:
                return done
            time.sleep(1)
    raise AssertionError(f"scheduled runs: {sorted((r.name, r.state_name) for r in runs)}")
