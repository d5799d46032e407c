"""Faults every emulator shares: an answer lost after the write, and latency on every call."""

import time

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from offering_sync.connectors.http.auth import HeaderToken
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.emulators import rhythm, server, smarterproctoring
from offering_sync.emulators.faults import Faults
from offering_sync.errors import TransientError
from tests.conftest import fast_retry
from tests.contract.test_rhythm_emulator import CREDENTIALS, VALID

RH_BASE = f"courseOfferings/{rhythm.DEMO_TENANT}"
SP_BASE = f"v1/installs/{smarterproctoring.DEMO_INSTALL}/courseOfferings"
LOST = Faults(drop_rate=1.0, drop_methods=["POST", "PUT"])


def _rhythm_token(app) -> str:
    return TestClient(app).post("/oauth/token", json=CREDENTIALS).json()["access_token"]


def _callers(app, token: str, header: str, scheme: str | None):
    """The connector's HTTP layer against ``app``: in process, and over a real socket."""
    auth = HeaderToken(SecretStr(token), header=header, scheme=scheme)
    in_process = TestClient(app, base_url="http://testserver/", raise_server_exceptions=False)
    in_process.auth = auth
    yield HttpCaller(in_process, "emulated", retry=fast_retry())
    with server.serve_in_thread(app) as running:
        yield HttpCaller(httpx.Client(base_url=running.url + "/", auth=auth, timeout=5),
                         "emulated", retry=fast_retry())


def test_a_create_whose_answer_is_lost_is_stored_and_the_connector_sees_a_transient_error():
    app = rhythm.create_app()
    token = _rhythm_token(app)
    app.state.faults.configure(LOST)
    for caller in _callers(app, token, "Authorization", "Bearer"):
        before = len(app.state.tenant.records)
        with pytest.raises(TransientError):
            caller.json(caller.send("POST", RH_BASE, idempotent=False, json=VALID))
        assert len(app.state.tenant.records) == before + 1  # the write happened
    assert app.state.faults.injected == {"drop": 2}


def test_a_replacement_whose_answer_is_lost_is_applied_and_the_connector_sees_it():
    app = smarterproctoring.create_app(faults=LOST)
    (sid,) = app.state.install.seed(1)
    for number, caller in enumerate(_callers(app, smarterproctoring.DEMO_TOKEN, "token", None)):
        with pytest.raises(TransientError):
            caller.json(caller.send("PUT", f"{SP_BASE}/{sid}", idempotent=False,
                                    json={"title": f"Renamed {number}", "matchStrings": "R"}))
        assert app.state.install.offerings[sid]["title"] == f"Renamed {number}"


def test_drops_can_spare_reads():
    app = smarterproctoring.create_app(faults=LOST)
    app.state.install.seed(3)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/" + SP_BASE, headers={"token": smarterproctoring.DEMO_TOKEN}).json()[
        "total"] == 3


@pytest.mark.parametrize("name", ["rhythm", "smarterproctoring", "digitalchalk"])
def test_latency_applies_to_every_vendor_call_and_never_to_admin_paths(name):
    app = server.build(name, records=2, latency_ms=60)
    client = TestClient(app, raise_server_exceptions=False)
    calls = {"rhythm": [("POST", "/oauth/token"), ("GET", "/courseOfferings/x")],
             "smarterproctoring": [("GET", "/" + SP_BASE), ("POST", "/" + SP_BASE)],
             "digitalchalk": [("GET", "/dc/api/v5/offerings"), ("GET", "/dc/api/v5/nothing")]}
    for method, path in calls[name]:
        started = time.monotonic()
        client.request(method, path, json={})
        assert time.monotonic() - started >= 0.06, (method, path)
    client.get("/_emulator/openapi.json")  # built once, on first use
    started = time.monotonic()
    assert client.get("/_emulator/openapi.json").status_code == 200
    assert time.monotonic() - started < 0.06
