"""A real `offering-sync sync` process killed with SIGKILL mid-run, then run again."""

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.faults import Faults
from offering_sync.state import StateStore


def _env(dc_url: str, sf_url: str, state_url: str) -> dict[str, str]:
    return {**os.environ, "OFFERING_SYNC_STATE_URL": state_url,
            **server.connection_env("digitalchalk", dc_url),
            **server.connection_env("salesforce", sf_url),
            "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "25"}


def cli_args(*args: str) -> list[str]:
    """The command line of the real CLI in a fresh interpreter (so it can be killed)."""
    return [sys.executable, "-c", "from offering_sync.app.cli import main; main()", *args]


def test_five_sigkills_at_random_points_then_resume_load_every_offering_exactly_once(tmp_path):
    records = 1000
    catalog = digitalchalk.Catalog(records, seed=99)
    sf_app = salesforce.create_app(faults=Faults(latency_ms=40))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(state_url)  # migrate before the race starts
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = _env(dc.url, sf.url, state_url)
        args = cli_args("sync", "--source", "digitalchalk", "--target", "salesforce", "--json")
        rng = random.Random(2026)
        for _ in range(5):  # 0 = somewhere in start-up or extraction, n = after n batches
            kill_after = rng.randint(0, 3)
            before = sf_app.state.posts
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            if kill_after == 0:
                time.sleep(rng.uniform(0.2, 1.2))
            deadline = time.monotonic() + 60
            while sf_app.state.posts - before < kill_after and time.monotonic() < deadline:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            assert proc.returncode == -signal.SIGKILL
        assert 0 < len(sf_app.state.org.offerings) < records
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    external = Counter(o["courseOfferingExternalId"]["fieldValue"]
                       for o in sf_app.state.org.offerings.values())
    assert len(external) == records and set(external.values()) == {1}
    assert set(external) == {f"digitalchalk:{r['id']}" for r in catalog}
    runs = StateStore(state_url).runs()
    assert runs[0].status == "succeeded"
    assert {r.status for r in runs[1:]} <= {"interrupted"}  # none left "running"
