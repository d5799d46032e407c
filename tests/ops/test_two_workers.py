"""Several deployments at once, two workers, one vendor quota: every run completes, nothing is
duplicated, and the global concurrency limit on the target holds."""

import time
from collections import Counter

import pytest

from offering_sync.emulators import salesforce, server
from offering_sync.emulators.server import connection_env
from tests.ops.test_deployments import wait_for_runs
from tests.systems import System

EXTRA = """
name: offering-sync-two-workers
prefect-version: 3.8.8
build: null
push: null
pull:
  - prefect.deployments.steps.set_working_directory: {{directory: "{root}"}}
deployments:
{deployments}
"""
ONE = """  - name: {source}-to-salesforce-now
    entrypoint: flows/sync.py:sync_offerings
    parameters: {{source: {source}, target: salesforce}}
    tags: [source-{source}, target-salesforce]
    work_pool: {{name: two-workers}}
"""
SOURCES = ("digitalchalk", "rhythm", "smarterproctoring")


@pytest.mark.slow
def test_three_pipelines_two_workers_one_target_limit(production_server, tmp_path, monkeypatch):
    from tests.ops.conftest import ROOT

    monkeypatch.setenv("PREFECT_API_URL", production_server.url)
    systems = {"digitalchalk": System("digitalchalk", 150), "rhythm": System("rhythm", 120),
               "smarterproctoring": System("smarterproctoring", 90)}
    sf_app = salesforce.create_app(post_seconds=0.05)
    spec = tmp_path / "prefect.yaml"
    spec.write_text(EXTRA.format(root=ROOT, deployments="".join(
        ONE.format(source=s) for s in SOURCES)))
    running = {name: server.start(s.app) for name, s in systems.items()}
    try:
        with server.serve_in_thread(sf_app) as sf:
            env = {"OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
                   "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "10",
                   **connection_env("salesforce", sf.url)}
            for name, r in running.items():
                env.update(connection_env(name, r.url))
            production_server.pool("two-workers")
            production_server.fresh_limit("target-salesforce", 1)
            production_server.cli("deploy", "--all", "--prefect-file", str(spec), env=env)
            for source in SOURCES:
                production_server.cli("deployment", "run",
                                   f"sync-offerings/{source}-to-salesforce-now")
            started = time.monotonic()
            with production_server.worker(env, "worker-1", "two-workers"), \
                    production_server.worker(env, "worker-2", "two-workers"):
                runs = wait_for_runs(production_server, [f"{s}-to-salesforce-now" for s in SOURCES],
                                     timeout=300)
    finally:
        for r in running.values():
            r.stop()
    assert len(runs) == 3 and all(r.state.is_completed() for r in runs), \
        [(r.name, r.state.message) for r in runs]
    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert set(held.values()) == {1}
    assert Counter(key.split(":")[0] for key in held) == {
        "digitalchalk": 150, "rhythm": 120, "smarterproctoring": 90}
    assert sf_app.state.max_in_flight == 1  # the limit held across both workers
    overlapping = [(a.name, b.name) for a in runs for b in runs
                   if a.id < b.id and a.start_time < b.end_time and b.start_time < a.end_time]
    assert overlapping, "the workers ran the deployments one after another"
    assert time.monotonic() - started < 300
