"""Issue 9's soak: six pipelines into three targets through faults, overlapping runs, Prefect
task retries, SIGKILL and SIGTERM at random points; then every target holds each valid offering
exactly once and every invalid one is an open dead letter.

Real processes (the CLI), real sockets, a standing Prefect server for the ``--prefect`` runs.
The figures it prints go to the README's reliability section.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.emulators import digitalchalk, rhythm, salesforce, server, smarterproctoring
from offering_sync.emulators.faults import Faults
from offering_sync.errors import InvalidRecord
from offering_sync.model import validate_offering
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.ops.conftest import Server

pytestmark = pytest.mark.slow

ROUNDS = 3
PIPELINES = [("digitalchalk", "salesforce"), ("rhythm", "salesforce"),
             ("digitalchalk", "rhythm"), ("smarterproctoring", "rhythm"),
             ("digitalchalk", "smarterproctoring"), ("rhythm", "smarterproctoring")]
EACH = 0.05  # per request: 429 + Retry-After, 5xx, timeout, dropped answer after the write


def chaos(seed: int) -> Faults:
    return Faults(latency_ms=3, rate_limit_rate=EACH, retry_after_seconds=0.02, error_rate=EACH,
                  timeout_rate=EACH, timeout_seconds=0.7, drop_rate=EACH, seed=seed)


class Systems:
    """Source and target emulators, each served on its own port."""

    def __init__(self, stack: ExitStack) -> None:
        self.catalog = digitalchalk.Catalog(300, seed=77)
        self.clean = digitalchalk.Catalog(300, seed=77)
        self.apps = {
            ("digitalchalk", "source"): digitalchalk.create_app(self.catalog),
            ("rhythm", "source"): rhythm.create_app(),
            ("smarterproctoring", "source"): smarterproctoring.create_app(),
            ("salesforce", "target"): salesforce.create_app(),
            ("rhythm", "target"): rhythm.create_app(),
            ("smarterproctoring", "target"): smarterproctoring.create_app(),
        }
        self.apps[("rhythm", "source")].state.tenant.seed(150, seed=4)
        self.apps[("smarterproctoring", "source")].state.install.seed(100)
        self.urls = {key: stack.enter_context(server.serve_in_thread(app)).url
                     for key, app in self.apps.items()}

    def env(self, source: str, target: str) -> dict[str, str]:
        return {**server.connection_env(source, self.urls[(source, "source")]),
                **server.connection_env(target, self.urls[(target, "target")])}

    def faults(self, on: bool) -> None:
        for index, ((_name, role), app) in enumerate(self.apps.items()):
            if role == "target":
                app.state.faults.configure(chaos(index) if on else Faults())
        self.catalog.malformed_rate = 0.01  # 1 % of DigitalChalk offerings are broken

    def injected(self) -> Counter:
        total: Counter = Counter()
        for app in self.apps.values():
            total.update(app.state.faults.injected)
        return total


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from offering_sync.app.cli import main; main()", *args]


def valid_keys(systems: Systems, source: str, target: str) -> tuple[set[str], set[str]]:
    """External ids the pipeline must load, and source ids that must be dead letters."""
    pipeline = build_pipeline(source, target, CoreSettings(),
                              source_connector=_reader(systems, source),
                              target_connector=_NoTarget(
                                  systems.apps[("salesforce", "target")].state.org))
    good, bad = set(), set()
    for page in pipeline.source.pages():
        for raw in page.records:
            try:
                offering = validate_offering(pipeline.to_canonical(raw))
                pipeline.to_target(offering)
            except (InvalidRecord, ValueError, TypeError):
                bad.add(str(raw.get(pipeline.source.id_field)))
            else:
                good.add(offering.external_id)
    return good, bad


def _reader(systems: Systems, source: str):
    from tests.systems import System

    reader = System.__new__(System)
    reader.name, reader.app = source, systems.apps[(source, "source")]
    return reader.source()


class _NoTarget:
    """Sends nothing; answers the Salesforce mapping's lookups from the emulated org, as the
    real target would (sessions and courses), so a record's validity is judged the same way."""

    system, max_batch, upsert_key = "salesforce", 200, True

    def __init__(self, org) -> None:
        self.org = org

    def lookup_rows(self, sobject, fields, where):
        from offering_sync.mapping.lookups import StaticLookups

        rows = list((self.org.table(sobject) or {}).values())
        return StaticLookups({sobject: rows}).lookup_rows(sobject, fields, where)


def test_soak(tmp_path):
    rng = random.Random(2026)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(state_url)
    kills: Counter = Counter()
    with ExitStack() as stack:
        systems = Systems(stack)
        prefect = Server(tmp_path, None)
        stack.callback(prefect.stop)
        base = {**os.environ, "OFFERING_SYNC_STATE_URL": state_url,
                "OFFERING_SYNC_LOCK_TTL_SECONDS": "20", "PREFECT_API_URL": prefect.url,
                "PREFECT_HOME": str(tmp_path), "PREFECT_LOGGING_LEVEL": "WARNING",
                # one attempt per request, so transient faults reach Prefect's task retries
                "OFFERING_SYNC_SALESFORCE_RETRIES": "2", "OFFERING_SYNC_RHYTHM_RETRIES": "2",
                "OFFERING_SYNC_SMARTERPROCTORING_RETRIES": "2",
                "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "40", "OFFERING_SYNC_MAX_FAILURE_RATIO": "1"}
        systems.faults(on=True)
        started = time.monotonic()
        for _round in range(ROUNDS):
            procs = []
            for source, target in PIPELINES:
                env = {**base, **systems.env(source, target)}
                for overlap in range(2):
                    prefect_run = rng.random() < 0.25
                    args = cli("sync", "--source", source, "--target", target,
                               *(["--prefect"] if prefect_run else []))
                    procs.append((subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL),
                                  rng.choice(["kill", "term", None, None]),
                                  time.monotonic() + rng.uniform(1.0, 6.0)))
                    time.sleep(rng.uniform(0.0, 0.5) if overlap == 0 else 0)
            while any(p.poll() is None for p, *_ in procs):
                for proc, fate, at in procs:
                    if fate and proc.poll() is None and time.monotonic() >= at:
                        proc.send_signal(signal.SIGKILL if fate == "kill" else signal.SIGTERM)
                        kills[fate] += 1
                time.sleep(0.05)
                assert time.monotonic() - started < 600, "the soak ran too long"
        injected = systems.injected()  # switching faults off resets the counters
        systems.faults(on=False)
        for source, target in PIPELINES:  # settle: fault-free runs, then a retry of all
            env = {**base, **systems.env(source, target)}
            for args in (cli("sync", "--source", source, "--target", target),
                         cli("dead-letters", "retry", "--pipeline", f"{source}:{target}")):
                done = subprocess.run(args, env=env, capture_output=True, text=True,
                                      timeout=300)
                assert "Traceback" not in done.stderr, done.stderr
        store = StateStore(state_url)
        duplicates = 0
        records = 0
        for source, target in PIPELINES:
            good, bad = valid_keys(systems, source, target)
            records += len(good) + len(bad)
            links = store.links_for(source, target, _all_source_ids(systems, source))
            linked = {link.external_id for link in links.values() if link.content_hash}
            assert linked == good, (source, target, len(good - linked), len(linked - good))
            open_letters = {d.source_id for d in store.dead_letters(
                pipeline=f"{source}->{target}", limit=100_000)}
            assert bad <= open_letters, (source, target, bad - open_letters)
        for target in ("salesforce", "rhythm", "smarterproctoring"):
            held = _held(systems, store, target)
            duplicates += sum(n - 1 for n in held.values() if n > 1)
        assert duplicates == 0
    figures = {"records": records, "pipelines": len(PIPELINES), "rounds": ROUNDS,
               "faults_injected": sum(injected.values()), "faults": dict(injected),
               "sigkill": kills["kill"], "sigterm": kills["term"], "duplicates": duplicates,
               "seconds": round(time.monotonic() - started, 1)}
    print("SOAK", json.dumps(figures))
    Path(tmp_path / "soak.json").write_text(json.dumps(figures))
    assert kills["kill"] >= 3 and kills["term"] >= 3 and sum(injected.values()) > 50


def _all_source_ids(systems: Systems, source: str) -> list[str]:
    app = systems.apps[(source, "source")]
    if source == "digitalchalk":
        return [r["id"] for r in app.state.catalog]
    if source == "rhythm":
        return list(app.state.tenant.records)
    return list(app.state.install.offerings)


def _held(systems: Systems, store: StateStore, target: str) -> Counter:
    """How often each source record's offering exists in the target."""
    app = systems.apps[(target, "target")]
    if target == "salesforce":
        return Counter(o["courseOfferingExternalId"]["fieldValue"]
                       for o in app.state.org.offerings.values())
    if target == "rhythm":
        return Counter(r.get("sys_external_id") for r in app.state.tenant.records.values())
    # SmarterProctoring has no external id: every offering must be linked, by one record only
    owners: Counter = Counter()
    for source, name in PIPELINES:
        if name != "smarterproctoring":
            continue
        for link in store.links_for(source, name, _all_source_ids(systems, source)).values():
            owners[link.target_id] += 1
    unlinked = set(app.state.install.offerings) - set(owners)
    return owners + Counter({sid: 2 for sid in unlinked})  # an unlinked offering is a duplicate
