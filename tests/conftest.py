"""Shared fixtures: state-store URLs (SQLite, plus PostgreSQL when configured), connectors wired
to in-process emulators (no sockets), and sentinel secrets."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from offering_sync.connectors.digitalchalk import DigitalChalkSettings, DigitalChalkSource
from offering_sync.connectors.http.auth import HeaderToken
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceTarget, build_auth
from offering_sync.emulators import digitalchalk as dc_emulator
from offering_sync.emulators import salesforce as sf_emulator

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("OFFERING_SYNC_TEST_POSTGRES_URL")
SENTINEL_DC_TOKEN = "dc-SENTINEL-7f3a9c1e-token"
SENTINEL_SF_SECRET = "sf-SENTINEL-5b2d8e4f-secret"


def fixture_json(*parts: str):
    return json.loads((FIXTURES.joinpath(*parts)).read_text(encoding="utf-8"))


def fast_retry(attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, initial=0.001, max_backoff=0.01, max_wait=0.05)


def _reset_postgres(url: str) -> None:
    engine = create_engine("postgresql+psycopg://" + url.removeprefix("postgresql://"))
    with engine.begin() as conn:  # every table any revision made, whatever its name
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


STATE_BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(params=STATE_BACKENDS)
def state_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty state store on each backend under test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:6]}.db'}"
        return
    assert PG_URL
    _reset_postgres(PG_URL)
    yield PG_URL
    _reset_postgres(PG_URL)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def dc_source(app, *, token: str = dc_emulator.DEFAULT_TOKEN, page_size: int = 100,
              retry: RetryPolicy | None = None, **settings) -> DigitalChalkSource:
    client = TestClient(app, base_url="http://testserver/dc/api/v5/",
                        raise_server_exceptions=False)
    client.auth = HeaderToken(SecretStr(token))
    cfg = DigitalChalkSettings(base_url="http://testserver/dc/api/v5", token=SecretStr(token),
                               page_size=page_size, **settings)
    return DigitalChalkSource(HttpCaller(client, "digitalchalk", retry=retry or fast_retry()),
                              cfg)


def sf_target(app, *, client_id: str = sf_emulator.DEMO_CLIENT_ID,
              client_secret: str = sf_emulator.DEMO_CLIENT_SECRET, batch_size: int = 200,
              retry: RetryPolicy | None = None, **settings) -> SalesforceTarget:
    client = TestClient(app, base_url="http://testserver/", raise_server_exceptions=False)
    cfg = SalesforceSettings(login_url="http://testserver", client_id=client_id,
                             client_secret=SecretStr(client_secret), batch_size=batch_size,
                             **settings)
    client.auth = build_auth(cfg)
    return SalesforceTarget(HttpCaller(client, "salesforce", retry=retry or fast_retry()), cfg)


@pytest.fixture
def dc_app():
    return dc_emulator.create_app(dc_emulator.Catalog(250, seed=5))


@pytest.fixture
def sf_app():
    return sf_emulator.create_app()
