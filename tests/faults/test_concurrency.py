"""Issue 17: k calls really in flight at once, and still each offering exactly once.

The emulators count the most requests they served at once, per method. A DigitalChalk →
Salesforce sync with CONCURRENCY on both sides must reach that many GETs and POSTs at once and no
more, load every offering exactly once (also when the org fails or loses answers, and when the
process is killed mid-group), and a re-run must write nothing.
"""

import os
import random
import signal
import subprocess
import time
from collections import Counter

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.faults import Faults
from offering_sync.engine import sync_pipeline
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.faults.test_sigkill import cli_args

K_DC, K_SF = 3, 4


def _env(dc_url: str, sf_url: str, state_url: str, batch: int) -> dict[str, str]:
    return {"OFFERING_SYNC_STATE_URL": state_url,
            **server.connection_env("digitalchalk", dc_url),
            **server.connection_env("salesforce", sf_url),
            "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": str(batch),
            "OFFERING_SYNC_DIGITALCHALK_CONCURRENCY": str(K_DC),
            "OFFERING_SYNC_SALESFORCE_CONCURRENCY": str(K_SF)}


def _sync(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> dict[str, int]:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = CoreSettings()
    pipeline = build_pipeline("digitalchalk", "salesforce", settings)
    store = StateStore(settings.state_url)
    try:
        return sync_pipeline(pipeline, store, settings.options()).counts.as_dict()
    finally:
        pipeline.source.close()
        pipeline.target.close()
        store.close()


def _once(sf_app, catalog) -> None:
    external = Counter(o["courseOfferingExternalId"]["fieldValue"]
                       for o in sf_app.state.org.offerings.values())
    assert set(external.values()) == {1}
    assert set(external) == {f"digitalchalk:{r['id']}" for r in catalog}


def test_k_posts_and_k_gets_are_in_flight_at_once_and_each_offering_lands_once(
        tmp_path, monkeypatch):
    catalog = digitalchalk.Catalog(1200, seed=17)
    dc_app = digitalchalk.create_app(catalog, faults=Faults(latency_ms=60))
    sf_app = salesforce.create_app(faults=Faults(latency_ms=150))
    with server.serve_in_thread(dc_app) as dc, server.serve_in_thread(sf_app) as sf:
        env = _env(dc.url, sf.url, f"sqlite:///{tmp_path / 'state.db'}", batch=50)
        counts = _sync(monkeypatch, env)
        assert counts["created"] == 1200 and counts["failed"] == 0
        assert sf_app.state.posts == 1200 // 50  # bulk calls unchanged: ceil(n / batch)
        assert sf_app.state.faults.max_in_flight["POST"] == K_SF
        assert dc_app.state.faults.max_in_flight["GET"] == K_DC
        _once(sf_app, catalog)
        posts = sf_app.state.posts
        again = _sync(monkeypatch, env)
        assert again["unchanged"] == 1200 and sf_app.state.posts == posts  # nothing twice


@pytest.mark.slow  # a stress run (12 s): the default run stays under five minutes
def test_with_failures_and_lost_answers_k_in_flight_still_loads_each_offering_once(
        tmp_path, monkeypatch):
    """5xx before the write and answers lost after it, with k POSTs in flight, run to the end."""
    catalog = digitalchalk.Catalog(800, seed=23)
    dc_app = digitalchalk.create_app(catalog)
    sf_app = salesforce.create_app(faults=Faults(latency_ms=30, error_rate=0.15, drop_rate=0.15,
                                                 drop_methods=["POST"], seed=5))
    with server.serve_in_thread(dc_app) as dc, server.serve_in_thread(sf_app) as sf:
        env = _env(dc.url, sf.url, f"sqlite:///{tmp_path / 'state.db'}", batch=25)
        env["OFFERING_SYNC_SALESFORCE_RETRIES"] = "8"
        for _ in range(4):  # records failed after retries are tried again by the next run
            _sync(monkeypatch, env)
            if len(sf_app.state.org.offerings) == 800:
                break
        assert sf_app.state.faults.injected.get("drop", 0) > 0
        assert sf_app.state.faults.max_in_flight["POST"] >= 2
        _once(sf_app, catalog)
        sf_app.state.faults.configure(Faults())
        posts = sf_app.state.posts
        again = _sync(monkeypatch, env)
        assert again["created"] == 0 and again["failed"] == 0 and sf_app.state.posts == posts


@pytest.mark.slow  # a stress run (10 s); tests/faults/test_sigkill.py stays in the default run
def test_sigkills_mid_group_with_k_in_flight_then_resume_load_each_offering_once(tmp_path):
    records = 1000
    catalog = digitalchalk.Catalog(records, seed=31)
    sf_app = salesforce.create_app(faults=Faults(latency_ms=80))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(state_url)  # migrate before the race starts
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = {**os.environ, **_env(dc.url, sf.url, state_url, batch=25)}
        args = cli_args("sync", "--source", "digitalchalk", "--target", "salesforce", "--json")
        rng = random.Random(17)
        for _ in range(3):  # killed after 1-6 POSTs: in the middle of a group of k
            kill_after = rng.randint(1, 6)
            before = sf_app.state.posts
            proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while sf_app.state.posts - before < kill_after and time.monotonic() < deadline:
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        assert 0 < len(sf_app.state.org.offerings) < records
        assert sf_app.state.faults.max_in_flight["POST"] >= 2
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    _once(sf_app, catalog)
    assert StateStore(state_url).runs()[0].status == "succeeded"
