"""A real Prefect server (SQLite or PostgreSQL) on loopback, its CLI, and workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from offering_sync.emulators.server import free_port
from tests.conftest import PG_URL

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).with_name("prefect"))
TUNED = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    "PREFECT_CLI_PROMPT": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "COLUMNS": "250",  # rich tables in CLI output are not truncated
}


class Server:
    """A `prefect server start` process and the environment that reaches it."""

    def __init__(self, home: Path, database: str | None) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/api"
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

    def cli(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180,
            ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([PREFECT, *args], env={**self.env, **(env or {})}, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done

    @contextmanager
    def worker(self, env: dict[str, str], name: str):
        log = open(Path(self.env["PREFECT_HOME"]) / f"{name}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen([PREFECT, "worker", "start", "--pool", "offering-sync",
                                 "--name", name], env={**self.env, **env}, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


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


def _server(kind: str, factory) -> Server:
    home = factory.mktemp(f"prefect-{kind}")
    database = _fresh_pg_database("offering_sync_prefect") if kind == "postgresql" else None
    server = Server(home, database)
    server.cli("work-pool", "create", "offering-sync", "--type", "process")
    return server


@pytest.fixture(scope="module", params=["sqlite"] + (["postgresql"] if PG_URL else []))
def prefect_server(request, tmp_path_factory):
    """A server on each database the suite can reach."""
    server = _server(request.param, tmp_path_factory)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """The documented production set-up: PostgreSQL when the suite can reach it."""
    server = _server("postgresql" if PG_URL else "sqlite", tmp_path_factory)
    yield server
    server.stop()
