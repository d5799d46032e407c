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

__all__ = ["EMULATORS", "Running", "serve_in_thread"]


def _digitalchalk(**kw: Any) -> Any:
    from emulators.digitalchalk import create_app

    return create_app(**kw)


def _salesforce(**kw: Any) -> Any:
    from emulators.salesforce import create_app

    return create_app(**kw)


EMULATORS: dict[str, Callable[..., Any]] = {
    "digitalchalk": _digitalchalk,
    "salesforce": _salesforce,
}
BASE_PATHS = {"digitalchalk": "/dc/api/v5", "salesforce": ""}


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
