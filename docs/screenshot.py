"""Screenshot the Prefect UI showing real sync runs, one clean and one with failed records.

Starts a Prefect server on loopback (a scratch PREFECT_HOME), the DigitalChalk and Salesforce
emulators, runs the ``sync-offerings`` flow against that server twice (a clean first sync, then
one after edits of which two are rejected), and has headless Chromium photograph the runs list
(the second run in its "Completed with failures" state), that run, and its run-summary and
dead-letter artifacts. Needs Debian's ``chromium`` (``apt-get install chromium``).
Usage: ``.venv/bin/python docs/screenshot.py [out.png]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    """Serve, sync, photograph the run and its summary and dead-letter artifacts."""
    from offering_sync.emulators import digitalchalk, salesforce, server

    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "prefect-ui-sync-run.png")
    port = server.free_port()
    home = Path(tempfile.mkdtemp(prefix="prefect-ui-"))
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port)}
    api = f"http://127.0.0.1:{port}/api"
    prefect = str(Path(sys.executable).with_name("prefect"))
    proc = subprocess.Popen([prefect, "server", "start"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        _wait(api + "/health")
        catalog = digitalchalk.Catalog(450, seed=7)
        with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
                server.serve_in_thread(salesforce.create_app()) as sf:
            os.environ.update({"PREFECT_API_URL": api, "PREFECT_HOME": str(home),
                               "OFFERING_SYNC_STATE_URL": f"sqlite:///{home / 'state.db'}",
                               **server.connection_env("digitalchalk", dc.url),
                               **server.connection_env("salesforce", sf.url)})
            from offering_sync.flows.sync import sync_offerings

            sync_offerings(source="digitalchalk", target="salesforce")
            for index in (3, 77):
                catalog.edit(catalog.offering_id(index), {"currencyCode": "DOLLARS"})
            for index in (10, 20, 30):
                catalog.edit(catalog.offering_id(index), {"title": f"Renamed {index}"})
            state = sync_offerings(source="digitalchalk", target="salesforce",
                                   return_state=True)
        assert state.name == "Completed with failures", state
        run_id = state.state_details.flow_run_id
        time.sleep(3)  # let the server record task runs and artifacts
        base = f"http://127.0.0.1:{port}"
        found = httpx.post(f"{api}/artifacts/filter", json={}).json()
        ids = {a["key"]: a["id"] for a in found if a.get("key")}
        shots = {out.with_name("prefect-ui-runs-completed-with-failures.png"): f"{base}/runs",
                 out: f"{base}/runs/flow-run/{run_id}",
                 out.with_name(out.stem + "-summary.png"):
                     f"{base}/artifacts/artifact/{ids['digitalchalk-salesforce-run-summary']}",
                 out.with_name(out.stem + "-dead-letters.png"):
                     f"{base}/artifacts/artifact/{ids['digitalchalk-salesforce-dead-letters']}"}
        for path, url in shots.items():
            subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                            "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update",
                            "--disable-sync", f"--user-data-dir={home / 'chromium'}",
                            "--window-size=1440,900", "--virtual-time-budget=15000",
                            f"--screenshot={path}", url],
                           check=True, capture_output=True, timeout=120)
            print(path)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait(url: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer")


if __name__ == "__main__":
    main()
