"""Deploy from prefect.yaml to a real Prefect server and run through a worker, as operators do."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.server import connection_env
from tests.ops.conftest import Server

RECORDS = 120
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
README_SECRET = re.search(r'python -c "(from prefect\.blocks\.system import Secret;.*?)"',
                          README, re.DOTALL).group(1).replace("\\\n", "")


def wait_for_runs(prefect: Server, deployment_names, timeout=180):
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    deadline = time.monotonic() + timeout
    with prefect.client() as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=deployment_names)))
            # The scheduler fills the future with runs of the cron deployments; those are
            # not this test's runs until they fall due.
            now = time.time()
            runs = [r for r in runs if not (r.state_name == "Scheduled" and r.expected_start_time
                                            and r.expected_start_time.timestamp() > now + 5)]
            done = [r for r in runs if r.state and r.state.is_final()]
            if runs and len(done) == len(runs):
                return runs
            time.sleep(1)
    raise AssertionError(f"runs did not finish: {[(r.name, r.state_name) for r in runs]}")


def artifacts_of(prefect: Server, flow_run_id):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with prefect.client() as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {a.key: a for a in found}


@pytest.mark.slow
def test_deploy_then_backfill_and_scheduled_runs_complete_with_artifacts(prefect_server,
                                                                         tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_server.url)
    catalog = digitalchalk.Catalog(RECORDS, seed=41)
    sf_app = salesforce.create_app()
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
               "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
        # The Salesforce secret comes from a Secret block, created as the README shows.
        secret = env.pop("OFFERING_SYNC_SALESFORCE_CLIENT_SECRET")
        saved = subprocess.run([sys.executable, "-c", README_SECRET.replace("…", secret)],
                               env=prefect_server.env, capture_output=True, text=True)
        assert saved.returncode == 0, saved.stderr
        prefect_server.cli("deploy", "--all", "--no-prompt", env=env)
        listed = prefect_server.cli("deployment", "ls").stdout
        for name in ("digitalchalk-to-salesforce-incremental",
                     "digitalchalk-to-salesforce-backfill",
                     "digitalchalk-to-salesforce-reconcile"):
            assert name in listed
        prefect_server.cli("deployment", "run",
                           "sync-offerings/digitalchalk-to-salesforce-backfill",
                           "-p", "full_refresh=true", "-p", "since=2024-01-01T00:00:00Z")
        with prefect_server.worker(env, "worker-a"):
            (backfill,) = wait_for_runs(prefect_server, ["digitalchalk-to-salesforce-backfill"])
            assert backfill.state.is_completed(), backfill.state.message
            prefect_server.cli("deployment", "run",
                               "sync-offerings/digitalchalk-to-salesforce-incremental")
            runs = wait_for_runs(prefect_server, ["digitalchalk-to-salesforce-incremental"])
            prefect_server.cli("deployment", "run",
                               "reconcile-offerings/digitalchalk-to-salesforce-reconcile")
            (check,) = wait_for_runs(prefect_server, ["digitalchalk-to-salesforce-reconcile"])
    scheduled = [r for r in runs if r.state.is_final()]
    assert all(r.state.is_completed() for r in scheduled)
    assert len(sf_app.state.org.offerings) == RECORDS
    found = artifacts_of(prefect_server, backfill.id)
    summary = json.loads(found["digitalchalk-salesforce-run-summary"].data)[0]
    assert summary["created"] == RECORDS and summary["failed"] == 0
    assert "digitalchalk-salesforce-progress" in found
    listed = prefect_server.cli("artifact", "ls").stdout
    assert "digitalchalk-salesforce-run-summary" in listed
    shown = prefect_server.cli("artifact", "inspect", "digitalchalk-salesforce-run-summary").stdout
    assert '"unchanged"' in shown or "unchanged" in shown
    assert check.state.is_completed(), check.state.message
    assert check.name.startswith("reconcile digitalchalk→salesforce ")
    assert check.state.message == (f"{RECORDS} compared: {RECORDS} ok · 0 missing in target · "
                                   "0 extra in target · 0 drifted · 0 missing in source · "
                                   "0 retired")
    assert backfill.name.startswith("digitalchalk→salesforce full refresh ")
    assert backfill.state.message == f"{RECORDS} extracted · {RECORDS} created"
    report = artifacts_of(prefect_server, check.id)["digitalchalk-salesforce-reconcile"].data
    assert f"| {RECORDS} | 0 | 0 | 0 |" in report
    incremental = artifacts_of(prefect_server, scheduled[-1].id)
    later = json.loads(incremental["digitalchalk-salesforce-run-summary"].data)[0]
    assert (later["created"], later["updated"], later["unchanged"]) == (0, 0, RECORDS)
