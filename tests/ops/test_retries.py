"""A whole-run transient failure is retried by Prefect, and the retry resumes safely.

The source stops answering mid-run (503 on every page after the first, past the connector's
own retries): the first attempt fails after loading part of the data; Prefect retries the
flow run (the shipped retries, with the delay shortened for the test); the retry finds the
loaded records unchanged, loads the rest, and the target holds every record once.
"""

import asyncio
import json
from collections import Counter
from urllib.parse import parse_qs

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.server import connection_env
from offering_sync.state import StateStore
from tests.ops.conftest import (
    deploy,
    logs_of,
    project_deployments,
    run_deployment,
    shipped,
    state_names,
    wait_final,
)

RECORDS = 250


class SourceOutage:
    """ASGI wrapper: the first ``failures`` page requests past ``offset`` answer 503."""

    def __init__(self, app, offset: int, failures: int) -> None:
        self.app, self.offset, self.left = app, offset, failures

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].endswith("/offerings"):
            query = parse_qs(scope["query_string"].decode())
            if int(query.get("offset", ["0"])[0]) >= self.offset and self.left > 0:
                self.left -= 1
                await asyncio.sleep(1)  # the first page's batches load meanwhile
                body = json.dumps({"errors": ["Service Unavailable"]}).encode()
                await send({"type": "http.response.start", "status": 503,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@pytest.mark.slow
def test_a_source_outage_fails_the_first_attempt_and_the_retry_completes_without_duplicates(
        production_server, tmp_path):
    prefect = production_server
    pool = prefect.pool("ops-retries")
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    flaky = {**shipped("digitalchalk-to-salesforce-incremental"), "name": "retry-digitalchalk"}
    # One page at a time: with several pages in flight, the outage's two 503s land on two
    # pages and each page's own retry absorbs one, so the run never needs Prefect's retry.
    one_page = {"OFFERING_SYNC_DIGITALCHALK_CONCURRENCY": "1"}
    spec = project_deployments(pool, names=[], extra=[flaky], env={
        "OFFERING_SYNC_FLOW_RETRY_DELAY_SECONDS": "2", "OFFERING_SYNC_DIGITALCHALK_RETRIES": "2",
        **one_page})
    assert spec["deployments"][0]["work_pool"]["job_variables"]["env"][
        "OFFERING_SYNC_FLOW_RETRIES"] == "2"  # as shipped
    outage = SourceOutage(digitalchalk.create_app(digitalchalk.Catalog(RECORDS, seed=23)),
                          offset=100, failures=2)
    sf_app = salesforce.create_app()
    with server.serve_in_thread(outage) as dc, server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
               "OFFERING_SYNC_STATE_URL": state_url, "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "50",
               **one_page}
        deploy(prefect, spec, tmp_path)
        with prefect.worker(env, "retries-worker", pool):
            (run,) = wait_final(prefect, [run_deployment(prefect,
                                                         "sync-offerings/retry-digitalchalk")])
    assert outage.left == 0
    assert run.state.name == "Completed", run.state.message
    assert run.run_count == 2
    names = state_names(prefect, run.id)
    assert names.index("AwaitingRetry") < names.index("Completed"), names
    log = logs_of(prefect, run.id, containing="failed on the server side")
    assert "failed on the server side" in log and "this attempt:" in log

    store = StateStore(state_url)
    first, second = sorted(store.runs(limit=5), key=lambda r: r.started_at)
    store.close()
    assert first.status == "failed" and "failed on the server side" in (first.message or "")
    # The first attempt loads what its groups sent before the outage (with batches grouped per
    # Prefect task that may be nothing yet); whatever it did, the retry does only the rest.
    assert 0 <= first.counts["created"] < RECORDS
    assert second.status == "succeeded"
    assert second.counts["unchanged"] == first.counts["created"]
    assert first.counts["created"] + second.counts["created"] == RECORDS
    unchanged = second.counts["unchanged"]  # zero counts are left out of the message
    assert run.state.message == (f"{RECORDS} extracted · {second.counts['created']} created"
                                 + (f" · {unchanged} unchanged" if unchanged else ""))
    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert len(held) == RECORDS and set(held.values()) == {1}
