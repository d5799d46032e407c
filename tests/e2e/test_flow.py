"""The Prefect flow end to end: real emulators on loopback, Prefect's test harness."""

import time

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from tests.conftest import SENTINEL_DC_TOKEN, SENTINEL_SF_SECRET


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    import offering_sync.flows  # noqa: F401 - sets the recorder and telemetry defaults first

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
        yield sf_app


def test_the_flow_syncs_publishes_artifacts_and_runs_one_task_per_batch(prefect_harness, live):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from offering_sync.flows.sync import sync_offerings

    state = sync_offerings(source="digitalchalk", target="salesforce", return_state=True)
    assert state.is_completed()
    result = state.result()
    assert (result["created"], result["failed"], result["batches"]) == (129, 1, 3)
    assert len(live.state.org.offerings) == 129
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(state.state_details.flow_run_id)
        assert flow_run.name.startswith("digitalchalk→salesforce ")
        batch_tasks = []
        deadline = time.monotonic() + 30  # the server records task runs from events, later
        while len(batch_tasks) < 3 and time.monotonic() < deadline:
            batch_tasks = [t for t in client.read_task_runs() if t.flow_run_id == flow_run.id]
            time.sleep(0.2)
        assert sorted(t.name for t in batch_tasks) == ["create-batch-1", "create-batch-2",
                                                       "create-batch-3"]
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["digitalchalk-salesforce-run-summary",
                                        "digitalchalk-salesforce-dead-letters"])))
    by_key = {a.key: a for a in artifacts if a.flow_run_id == flow_run.id}
    summary = by_key["digitalchalk-salesforce-run-summary"].data
    assert '"created": 129' in summary.replace("'", '"') or "129" in summary
    assert "1 records not synced" in summary
    dead = by_key["digitalchalk-salesforce-dead-letters"].data
    assert "currency" in dead and "DOLLARS" in dead
    with get_client(sync_client=True) as client:
        logs, deadline = "", time.monotonic() + 30  # logs reach the API in batches
        while "create-batch-3" not in logs and time.monotonic() < deadline:
            time.sleep(0.3)
            logs = "\n".join(log.message for log in client.read_logs())
        params = repr(client.read_flow_run(flow_run.id).parameters)
    everything = logs + params + "".join(str(a.data) for a in artifacts)
    assert "create-batch-1" in everything
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
