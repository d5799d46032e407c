"""Run emulators as real HTTP servers: in a thread (tests, demo) or in the foreground (CLI)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

__all__ = ["EMULATORS", "Running", "build", "serve_in_thread"]


def _digitalchalk(**kw: Any) -> Any:
    from offering_sync.emulators.digitalchalk import create_app

    return create_app(**kw)


def _salesforce(**kw: Any) -> Any:
    from offering_sync.emulators.salesforce import create_app

    return create_app(**kw)


def _rhythm(**kw: Any) -> Any:
    from offering_sync.emulators.rhythm import create_app

    return create_app(**kw)


def _smarterproctoring(**kw: Any) -> Any:
    from offering_sync.emulators.smarterproctoring import create_app

    return create_app(**kw)


EMULATORS: dict[str, Callable[..., Any]] = {
    "digitalchalk": _digitalchalk,
    "salesforce": _salesforce,
    "rhythm": _rhythm,
    "smarterproctoring": _smarterproctoring,
}


def build(name: str, *, records: int = 0, seed: int = 1, latency_ms: float = 0,
          **switches: Any) -> Any:
    """Emulator ``name`` holding ``records`` offerings, with ``latency_ms`` on every call.

    ``switches`` go to its ``create_app`` (e.g. ``paging="string"`` for Rhythm,
    ``listing="array"`` for DigitalChalk).
    """
    from offering_sync.emulators.faults import Faults

    if latency_ms:
        switches["faults"] = Faults(latency_ms=latency_ms)
    if name == "digitalchalk":
        from offering_sync.emulators.digitalchalk import Catalog

        switches["catalog"] = Catalog(records, seed=seed)
    app = EMULATORS[name](**switches)
    if name == "salesforce" and records:
        from offering_sync.emulators.salesforce import seed as seed_salesforce

        seed_salesforce(app, records)
    elif name == "rhythm":
        app.state.tenant.seed(records, seed=seed)
    elif name == "smarterproctoring":
        app.state.install.seed(records)
    return app


def connection_env(name: str, url: str) -> dict[str, str]:
    """The settings that point offering-sync at emulator ``name`` served at ``url``."""
    from offering_sync.emulators import digitalchalk, rhythm, salesforce, smarterproctoring

    if name == "digitalchalk":
        return {"OFFERING_SYNC_DIGITALCHALK_BASE_URL": url + "/dc/api/v5",
                "OFFERING_SYNC_DIGITALCHALK_TOKEN": digitalchalk.DEFAULT_TOKEN}
    if name == "salesforce":
        return {"OFFERING_SYNC_SALESFORCE_LOGIN_URL": url,
                "OFFERING_SYNC_SALESFORCE_CLIENT_ID": salesforce.DEMO_CLIENT_ID,
                "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": salesforce.DEMO_CLIENT_SECRET}
    if name == "rhythm":
        return {"OFFERING_SYNC_RHYTHM_BASE_URL": url,
                "OFFERING_SYNC_RHYTHM_TENANT_ID": rhythm.DEMO_TENANT,
                "OFFERING_SYNC_RHYTHM_AUTH_URL": url + "/oauth/token",
                "OFFERING_SYNC_RHYTHM_CLIENT_ID": rhythm.DEMO_CLIENT_ID,
                "OFFERING_SYNC_RHYTHM_CLIENT_SECRET": rhythm.DEMO_CLIENT_SECRET}
    return {"OFFERING_SYNC_SMARTERPROCTORING_BASE_URL": url,
            "OFFERING_SYNC_SMARTERPROCTORING_TOKEN": smarterproctoring.DEMO_TOKEN,
            "OFFERING_SYNC_SMARTERPROCTORING_INSTALL_SID": smarterproctoring.DEMO_INSTALL}


@dataclass
class Running:
    """An emulator serving on loopback."""

    app: Any
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for it."""
        self.server.should_exit = True
        self.thread.join(timeout=10)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(app: Any, port: int = 0, host: str = "127.0.0.1") -> Running:
    """Serve ``app`` in a daemon thread and wait until it accepts connections."""
    port = port or free_port()
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=30)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"emulator-{port}")
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"emulator did not start on {host}:{port}")
        time.sleep(0.02)
    return Running(app, f"http://{host}:{port}", server, thread)


@contextmanager
def serve_in_thread(app: Any, port: int = 0) -> Iterator[Running]:
    """Context manager around ``start``/``stop``."""
    running = start(app, port)
    try:
        yield running
    finally:
        running.stop()
