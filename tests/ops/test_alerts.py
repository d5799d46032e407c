"""A run with failed records is told apart from a clean one, and an alert fires for it.

Through the README's commands: ``offering-sync ops setup --alert-webhook URL`` (the alert
automation), ``prefect flow-run ls --state "Completed with failures"`` and
``prefect flow-run inspect``. The webhook is a local HTTP server this test runs.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from offering_sync.emulators import digitalchalk, rhythm, salesforce, server
from offering_sync.emulators.server import connection_env, free_port
from tests.ops.conftest import (
    OFFERING_SYNC,
    PREFECT,
    deploy,
    project_deployments,
    readme_command,
    run_deployment,
    shipped,
    wait_final,
)


class Hook:
    """A webhook receiver on loopback that keeps every JSON body posted to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.http = HTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}/alerts"
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, *words: str, timeout: float = 90) -> list[dict]:
        """Wait until, for each of ``words``, an alert's subject contains it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(
                any(w in a.get("subject", "") for a in self.received) for w in words):
            time.sleep(0.5)
        return list(self.received)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def _copy(name: str, source: str, env: dict | None = None) -> dict:
    base = shipped("digitalchalk-to-salesforce-incremental")
    out = {**base, "name": name, "parameters": {"source": source, "target": "salesforce"}}
    if env:
        out["work_pool"] = {**base["work_pool"], "job_variables": {
            "env": {**base["work_pool"]["job_variables"]["env"], **env}}}
    return out


@pytest.mark.slow
def test_failed_and_partly_failed_syncs_alert_and_stand_out_in_the_runs_list(production_server,
                                                                              tmp_path):
    prefect = production_server
    pool = prefect.pool("ops-alerts")
    hook = Hook()
    try:
        command = readme_command("offering-sync ops setup --alert-webhook",
                                 **{"https://hooks.example.org/offering-sync": hook.url})
        setup = prefect.run(OFFERING_SYNC, *command[1:]).stdout
        assert f"alert on failed or partially failed syncs (to webhook block " \
               f"offering-sync-alerts → {hook.url})" in setup
        spec = project_deployments(pool, names=[], extra=[
            _copy("alerts-clean", "rhythm"),
            _copy("alerts-some-bad", "digitalchalk"),
            _copy("alerts-refused", "digitalchalk",
                  env={"OFFERING_SYNC_DIGITALCHALK_TOKEN": "not-the-token"})])
        catalog = digitalchalk.Catalog(120, seed=13)
        for index in (7, 70):
            catalog.edit(catalog.offering_id(index), {"currencyCode": "DOLLARS"})
        rhythm_app = rhythm.create_app()
        rhythm_app.state.tenant.seed(15)
        with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
                server.serve_in_thread(rhythm_app) as rh, \
                server.serve_in_thread(salesforce.create_app()) as sf:
            env = {**connection_env("digitalchalk", dc.url), **connection_env("rhythm", rh.url),
                   **connection_env("salesforce", sf.url),
                   "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
            deploy(prefect, spec, tmp_path)
            with prefect.worker(env, "alerts-worker", pool):
                clean, some_bad, refused = (
                    wait_final(prefect, [run_deployment(prefect, f"sync-offerings/{name}")])[0]
                    for name in ("alerts-clean", "alerts-some-bad", "alerts-refused"))
            hook.wait_for(some_bad.name, refused.name)
            time.sleep(3)  # an alert for the clean run would have arrived by now
            alerts = list(hook.received)
    finally:
        hook.close()

    assert (clean.state.name, clean.state.message) == ("Completed", "15 extracted · 15 created")
    assert some_bad.state.name == "Completed with failures"
    assert some_bad.state.message == ("2 of 120 records failed: see dead letters. "
                                      "120 extracted · 118 created · 2 failed")
    assert refused.state.is_failed() and "refused our credentials" in refused.state.message
    assert refused.run_count == 1  # a wrong secret is not retried

    # An alert for each run that was not clean, saying which run, how it ended and why.
    # Prefect delivers automation actions at least once: when its server fails a step after
    # the webhook was called (seen here under load on SQLite), the same alert comes again.
    by_run = {a["subject"].split(" ended ")[0].removeprefix("offering-sync: "): a for a in alerts}
    assert set(by_run) == {some_bad.name, refused.name}
    bad_alert = by_run[some_bad.name]
    assert bad_alert["subject"] == f"offering-sync: {some_bad.name} ended Completed with failures"
    assert "2 of 120 records failed: see dead letters" in bad_alert["body"]
    assert "'source': 'digitalchalk'" in bad_alert["body"] and bad_alert["source"] == "offering-sync"
    assert by_run[refused.name]["subject"].endswith(" ended Failed")

    # The README's commands show it: the runs list filtered by the named state, and inspect.
    listed = prefect.run(PREFECT, *readme_command("prefect flow-run ls")[1:]).stdout
    assert str(some_bad.id) in listed and str(clean.id) not in listed
    shown = prefect.run(PREFECT, *readme_command("prefect flow-run inspect", **{
        "<flow-run-id>": str(some_bad.id)})[1:]).stdout
    assert "Completed with failures" in shown and "2 of 120 records failed" in shown
