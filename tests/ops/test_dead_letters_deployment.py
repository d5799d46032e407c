"""The dead-letters-retry deployment, started with the README's command, through a worker."""

import subprocess

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.server import connection_env
from offering_sync.state import StateStore
from tests.e2e.test_cli import run as cli
from tests.ops.conftest import (
    PREFECT,
    deploy,
    project_deployments,
    readme_command,
    wait_final,
)


@pytest.mark.slow
def test_the_retry_deployment_reloads_records_fixed_in_the_source(production_server, tmp_path):
    prefect = production_server
    pool = prefect.pool("ops-dead-letters")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    catalog = digitalchalk.Catalog(40, seed=19)
    bad = catalog.offering_id(7)
    catalog.edit(bad, {"currencyCode": "DOLLARS"})
    sf_app = salesforce.create_app()
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
               "OFFERING_SYNC_STATE_URL": state_url}
        first = cli("sync", "--source", "digitalchalk", "--target", "salesforce",
                    env={**prefect.env, **env})
        assert first.returncode == 1, first.stderr  # one record failed
        catalog.edit(bad, {"currencyCode": "USD"})  # fixed in the source
        deploy(prefect, project_deployments(pool, names=["dead-letters-retry"]), tmp_path)
        command = readme_command("prefect deployment run retry-dead-letters")
        started = subprocess.run([PREFECT, *command[1:]], env={**prefect.env, **env},
                                 capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stderr
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

        with prefect.worker(env, "dead-letters-worker", pool), prefect.client() as client:
            (flow_run,) = client.read_flow_runs(deployment_filter=DeploymentFilter(
                name=DeploymentFilterName(any_=["dead-letters-retry"])))
            (done,) = wait_final(prefect, [flow_run.id])
    assert done.state.is_completed(), done.state.message
    assert done.name.startswith("retry dead letters of digitalchalk:salesforce ")
    store = StateStore(state_url)
    assert store.dead_letters() == []
    assert len(sf_app.state.org.offerings) == 40
