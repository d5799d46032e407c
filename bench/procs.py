"""The processes a benchmark needs: emulators, the sync child, a standing Prefect server.

Each runs in a process of its own so that its CPU can be told apart (``/proc/<pid>/stat`` for the
emulators and the server, ``getrusage`` inside the child) and so that the sync's memory starts
clean. Latency is switched on in the emulators with their own ``PUT /_emulator/faults``, which
delays every vendor call (never the ``/_emulator`` admin calls the harness itself uses).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["Emulator", "child", "emulator", "env_for", "load", "prefect_server", "proc_cpu"]

ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages (2 cores shared: > 2 means others compete)."""
    return [round(float(x), 2) for x in Path("/proc/loadavg").read_text().split()[:3]]


@dataclass
class Emulator:
    """One emulator process."""

    url: str
    proc: subprocess.Popen[bytes]

    def cpu(self) -> float:
        """CPU seconds this emulator has used so far."""
        return proc_cpu(self.proc.pid)

    def latency(self, ms: float) -> None:
        """Delay every vendor call by ``ms`` (0: off)."""
        httpx.put(self.url + "/_emulator/faults", json={"latency_ms": ms}).raise_for_status()

    def stats(self) -> dict[str, Any]:
        """The emulator's own counters."""
        return dict(httpx.get(self.url + "/_emulator/stats").json())

    def reset(self) -> None:
        """Salesforce: forget every course offering."""
        httpx.post(self.url + "/_emulator/reset").raise_for_status()

    def generate(self, count: int, seed: int = 1) -> None:
        """DigitalChalk: replace the catalog with ``count`` generated offerings."""
        httpx.post(self.url + "/_emulator/generate", json={"count": count, "seed": seed},
                   timeout=120).raise_for_status()


@contextmanager
def emulator(system: str, records: int = 0) -> Iterator[Emulator]:
    """Serve ``system`` on a free port in a process of its own until the block ends."""
    from offering_sync.emulators.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "offering_sync.emulators", system, "--port",
                             str(port), "--records", str(records)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url + "/_emulator/stats", proc)
        yield Emulator(url, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds:.0f} s")


def env_for(dc: Emulator, sf: Emulator, state: str, batch: int,
            concurrency: dict[str, int] | None = None) -> dict[str, str]:
    """Settings that point a sync at the two emulators and a state store.

    ``concurrency`` becomes ``OFFERING_SYNC_<SYSTEM>_CONCURRENCY`` (issue 17.2): a build that
    does not read that setting yet simply ignores it.
    """
    from offering_sync.emulators.server import connection_env

    env = {**connection_env("digitalchalk", dc.url), **connection_env("salesforce", sf.url),
           "OFFERING_SYNC_STATE_URL": state, "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": str(batch)}
    for system, k in (concurrency or {}).items():
        env[f"OFFERING_SYNC_{system.upper()}_CONCURRENCY"] = str(k)
    return env


def child(module: str, spec: dict[str, Any], env: dict[str, str],
          timeout: float = 3600) -> dict[str, Any]:
    """Run ``python -m module '<spec>'`` with ``env`` added; its last stdout line as JSON."""
    done = subprocess.run([sys.executable, "-m", module, json.dumps(spec)],
                          env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{module} {spec} failed:\n{done.stderr[-4000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass
class PrefectServer:
    """A standing ``prefect server start``."""

    api_url: str
    proc: subprocess.Popen[bytes]

    def cpu(self) -> float:
        """CPU seconds of the server process and its workers so far."""
        return proc_cpu(self.proc.pid) + sum(proc_cpu(p) for p in _children(self.proc.pid))


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def prefect_settings() -> dict[str, str]:
    """The project's Prefect defaults (``offering_sync.flows``), for a server process too."""
    from offering_sync.flows import prefect_defaults

    prefect_defaults()  # the defaults in os.environ, before Prefect starts

    return {k: v for k, v in os.environ.items() if k.startswith("PREFECT_SERVER_")}


@contextmanager
def prefect_server() -> Iterator[PrefectServer]:
    """``prefect server start`` on a free port with a fresh SQLite database."""
    from offering_sync.emulators.server import free_port

    port = free_port()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, **prefect_settings(), "PREFECT_HOME": home,
               "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
               "PREFECT_UI_ENABLED": "false"}
        log = open(Path(home) / "server.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server",
                                 "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, cwd=home)
        api = f"http://127.0.0.1:{port}/api"
        try:
            _wait(api + "/health", proc, seconds=120)
            yield PrefectServer(api, proc)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
