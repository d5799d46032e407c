"""A real Prefect server (SQLite, or PostgreSQL when the suite has one) on loopback, its CLI,
workers, and deployments made from the project's own prefect.yaml.

One server per database kind serves the whole session (starting one costs ~10-20 s); each test
keeps to its own work pool so one test's worker never runs another test's flow runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from offering_sync.emulators.server import free_port
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
OFFERING_SYNC = str(Path(sys.executable).with_name("offering-sync"))
TUNED = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    # The scheduler visits deployments every 60 s and a queued run retries its deployment's
    # slot every 30 s by default; shorter here so tests wait less (behaviour is the same).
    "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5",
    "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "3",
    "PREFECT_WORKER_QUERY_SECONDS": "2",
    "PREFECT_CLI_PROMPT": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "COLUMNS": "250",  # rich tables in CLI output are not truncated
}


class Server:
    """A `prefect server start` process and the environment that reaches it."""

    def __init__(self, home: Path, database: str | None) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        self.home = home
        self.env = {**os.environ, **TUNED, "PREFECT_HOME": str(home),
                    "PREFECT_API_URL": self.url, "PREFECT_SERVER_API_HOST": "127.0.0.1",
                    "PREFECT_SERVER_API_PORT": str(port)}
        if database:
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
        self.log = open(home / "server.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([PREFECT, "server", "start"], env=self.env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.3)
        raise RuntimeError((home / "server.log").read_text()[-3000:])

    def run(self, *command: str, env: dict[str, str] | None = None, timeout: float = 180,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command (``prefect …``, ``offering-sync …``) against this server."""
        done = subprocess.run(list(command), env={**self.env, **(env or {})}, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
        return done

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180,
            ) -> subprocess.CompletedProcess[str]:
        return self.run(PREFECT, *args, env=env, timeout=timeout)

    @contextmanager
    def client(self):
        """A Prefect client of this server (and no ephemeral server started by the way)."""
        from prefect import get_client

        with _api(self), get_client(sync_client=True) as client:
            yield client

    def pool(self, name: str) -> str:
        """A process work pool of this name (created once)."""
        with self.client() as client:
            names = {p.name for p in client.read_work_pools()}
        if name not in names:
            self.cli("work-pool", "create", name, "--type", "process")
        return name

    def fresh_limit(self, name: str, limit: int) -> None:
        """A global concurrency limit with no slot taken, whatever earlier tests left."""
        self.run(PREFECT, "global-concurrency-limit", "delete", name, check=False)
        self.cli("global-concurrency-limit", "create", name, "--limit", str(limit))

    @contextmanager
    def worker(self, env: dict[str, str], name: str, pool: str = "offering-sync"):
        proc = self.start_worker(env, name, pool)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()  # SIGTERM: background processes ignore SIGINT
                proc.wait(timeout=30)

    def start_worker(self, env: dict[str, str], name: str, pool: str) -> subprocess.Popen[bytes]:
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 - the process keeps it
        return subprocess.Popen([PREFECT, "worker", "start", "--pool", pool, "--name", name],
                                env={**self.env, **env}, cwd=ROOT, stdout=log,
                                stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def project_deployments(pool: str, *, names: list[str] | None = None,
                        env: dict[str, str] | None = None, schedules: bool = False,
                        extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The project's prefect.yaml, as shipped, pointed at ``pool``.

    ``names`` keeps only those deployments, ``env`` is added to each one's
    ``job_variables.env``, ``schedules`` keeps the cron schedules (off by default: a cron run
    falling due mid-test is not the test's), ``extra`` appends deployments (copies of a
    shipped one under another name, for example).
    """
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    spec.pop("definitions", None)  # anchors are resolved already
    kept = [d for d in spec["deployments"] if names is None or d["name"] in names]
    for deployment in [*kept, *(extra or [])]:
        pool_spec = dict(deployment["work_pool"])
        pool_spec["name"] = pool
        variables = dict(pool_spec.get("job_variables") or {})
        variables["env"] = {**variables.get("env", {}), **(env or {})}
        pool_spec["job_variables"] = variables
        deployment["work_pool"] = pool_spec
        if not schedules:
            deployment.pop("schedules", None)
    spec["deployments"] = [*kept, *(extra or [])]
    return spec


def shipped(name: str) -> dict[str, Any]:
    """A copy of one deployment of the shipped prefect.yaml."""
    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (found,) = [d for d in spec["deployments"] if d["name"] == name]
    return found


def deploy(server: Server, spec: dict[str, Any], tmp_path: Path,
           env: dict[str, str] | None = None) -> None:
    path = tmp_path / f"prefect-{len(list(tmp_path.glob('prefect-*.yaml')))}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    server.cli("deploy", "--all", "--no-prompt", "--prefect-file", str(path), env=env)


def run_deployment(server: Server, name: str, **params: Any):
    """Start a run of deployment ``flow/name`` with ``params``; returns its id."""
    from prefect.deployments import run_deployment as run

    with _api(server):
        flow_run = run(name, parameters=params, timeout=0)
    return flow_run.id


@contextmanager
def _api(server: Server):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.url}):
        yield


def wait_final(server: Server, ids, timeout: float = 180):
    """Wait until every flow run in ``ids`` is in a final state; returns them in order."""
    deadline = time.monotonic() + timeout
    with server.client() as client:
        while True:
            runs = [client.read_flow_run(i) for i in ids]
            if all(r.state and r.state.is_final() for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(f"runs not final: {[(r.name, r.state_name) for r in runs]}")
            time.sleep(1)


def logs_of(server: Server, flow_run_id, *, containing: str = "", timeout: float = 30) -> str:
    """The flow run's log messages (they reach the API in batches: wait for ``containing``)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + timeout
    with server.client() as client:
        while True:
            found = client.read_logs(log_filter=LogFilter(
                flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])), limit=200)
            text = "\n".join(log.message for log in found)
            if containing in text or time.monotonic() > deadline:
                return text
            time.sleep(0.5)


def state_names(server: Server, flow_run_id) -> list[str]:
    with server.client() as client:
        return [s.name for s in client.read_flow_run_states(flow_run_id)]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_hard(pid: int) -> list[int]:
    """SIGKILL ``pid`` and everything below it at once, as a lost host would."""
    victims = [pid, *descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims


def _fresh_pg_database(name: str) -> str:
    assert PG_URL
    admin = create_engine("postgresql+psycopg://" + PG_URL.removeprefix("postgresql://"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    base = PG_URL.removeprefix("postgresql://").rsplit("/", 1)[0]
    return f"postgresql+asyncpg://{base}/{name}"


def _pg_name() -> str:
    """The Prefect database beside the suite's own: ``<db>_prefect`` (never shared by two
    checkouts that test against one cluster with different databases)."""
    assert PG_URL
    return PG_URL.rsplit("/", 1)[1].split("?")[0] + "_prefect"


_SERVERS: dict[str, Server] = {}


def _server(kind: str, factory) -> Server:
    if kind not in _SERVERS:
        home = factory.mktemp(f"prefect-{kind}")
        database = _fresh_pg_database(_pg_name()) if kind == "postgresql" else None
        _SERVERS[kind] = Server(home, database)
        _SERVERS[kind].pool("offering-sync")
    return _SERVERS[kind]


@pytest.fixture(scope="session", autouse=True)
def _stop_servers():
    yield
    for server in _SERVERS.values():
        server.stop()
    _SERVERS.clear()


@pytest.fixture(scope="session", params=["sqlite"] + (["postgresql"] if PG_URL else []))
def prefect_server(request, tmp_path_factory):
    """A server on each database the suite can reach."""
    return _server(request.param, tmp_path_factory)


@pytest.fixture(scope="session")
def production_server(tmp_path_factory):
    """The documented production set-up: PostgreSQL when the suite can reach it, else SQLite."""
    return _server("postgresql" if PG_URL else "sqlite", tmp_path_factory)


def readme_command(prefix: str, **values: str) -> list[str]:
    """The README's own command line starting with ``prefix`` (continuations joined), split as
    a shell would, with ``<placeholders>`` and the example URL replaced by ``values``."""
    import shlex

    text = (ROOT / "README.md").read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.split("  #")[0].strip()
        if line.startswith(prefix):
            for old, new in values.items():
                line = line.replace(old, new)
            return shlex.split(line)
    raise AssertionError(f"the README has no command starting with {prefix!r}")
