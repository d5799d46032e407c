"""Switchable faults for every emulator, as ASGI middleware on the vendor paths.

Latency, 429 with ``Retry-After``, 5xx, slow answers (client timeouts) and connections dropped
mid-response are drawn per request from a seeded RNG, so a test run is repeatable. Admin paths
(``/_emulator/...``) are never faulted. A drop lets the emulator finish the request (a write is
applied) and cuts the answer in half: "the write happened but the answer was lost";
``drop_methods`` narrows it to, say, POST and PUT. Per-record rejections and malformed records
are the emulators' own, since their shape is vendor-specific.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from offering_sync.emulators.answers import install_vendor_errors

__all__ = ["FaultInjector", "Faults", "install_faults"]

ASGIApp = Any
ADMIN_PREFIX = "/_emulator"


class Faults(BaseModel):
    """Fault switches; rates are probabilities per request (or per record) from 0 to 1."""

    latency_ms: float = Field(default=0, ge=0)
    rate_limit_rate: float = Field(default=0, ge=0, le=1)
    retry_after_seconds: float = Field(default=0.05, ge=0)
    error_rate: float = Field(default=0, ge=0, le=1)
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    timeout_rate: float = Field(default=0, ge=0, le=1)
    timeout_seconds: float = Field(default=2.0, ge=0)
    drop_rate: float = Field(default=0, ge=0, le=1, description="answer cut after the app ran")
    drop_methods: list[str] = Field(default_factory=list, description="empty: every method")
    reject_rate: float = Field(default=0, ge=0, le=1, description="per-record, bulk writes")
    malformed_rate: float = Field(default=0, ge=0, le=1, description="per-record, source lists")
    seed: int = 7


class FaultInjector:
    """ASGI middleware applying ``Faults``; ``error_body`` renders the vendor's error format."""

    def __init__(self, app: ASGIApp | None, faults: Faults,
                 error_body: Any = None) -> None:
        self.app: ASGIApp = app
        self.faults = faults
        self.error_body = error_body or (lambda status, msg: {"message": msg})
        self.rng = random.Random(faults.seed)
        self.lock = threading.Lock()
        self.injected: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}  # per method: the most requests served at once

    def reset_in_flight(self) -> None:
        """Start counting the most requests at once afresh."""
        with self.lock:
            self.max_in_flight = {}

    def configure(self, faults: Faults) -> None:
        """Switch faults at run time (the admin endpoint calls this)."""
        with self.lock:
            self.faults = faults
            self.rng = random.Random(faults.seed)
            self.injected = {}
            self.max_in_flight = {}

    def _draw(self) -> float:
        with self.lock:
            return self.rng.random()

    def _count(self, kind: str) -> None:
        with self.lock:
            self.injected[kind] = self.injected.get(kind, 0) + 1

    def _droppable(self, method: str) -> bool:
        methods = self.faults.drop_methods
        return not methods or method.upper() in {m.upper() for m in methods}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Apply the switched-on faults to one vendor request, or pass it through."""
        if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        with self.lock:
            now = self.in_flight[method] = self.in_flight.get(method, 0) + 1
            self.max_in_flight[method] = max(self.max_in_flight.get(method, 0), now)
        try:
            await self._faulted(scope, receive, send)
        finally:
            with self.lock:
                self.in_flight[method] -= 1

    async def _faulted(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        f = self.faults
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.rate_limit_rate and self._draw() < f.rate_limit_rate:
            self._count("429")
            await _respond(send, 429, self.error_body(429, "Too many requests"),
                           {"retry-after": f"{f.retry_after_seconds:g}"})
            return
        if f.error_rate and self._draw() < f.error_rate:
            status = f.error_statuses[int(self._draw() * len(f.error_statuses))]
            self._count(str(status))
            await _respond(send, status, self.error_body(status, "Internal error, try again"))
            return
        if f.timeout_rate and self._draw() < f.timeout_rate:
            self._count("timeout")
            await asyncio.sleep(f.timeout_seconds)
        if f.drop_rate and self._droppable(scope["method"]) and self._draw() < f.drop_rate:
            self._count("drop")
            await self.app(scope, receive, _Truncating(send))
            return
        await self.app(scope, receive, send)


class _Truncating:
    """Sends the headers and half of the body, then breaks the connection."""

    def __init__(self, send: Any) -> None:
        self.send = send

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", [])
                       if k.lower() != b"content-length"]
            await self.send({**message, "headers": headers})
            return
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            await self.send({"type": "http.response.body", "body": body[: len(body) // 2],
                             "more_body": True})
            raise ConnectionAbortedError("emulator fault: connection dropped mid-response")


async def _respond(send: Any, status: int, body: Any, headers: dict[str, str] | None = None,
                   ) -> None:
    raw = json.dumps(body).encode()
    pairs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    pairs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": raw})


class _FaultMiddleware:
    """Starlette middleware shim: puts a ``FaultInjector`` in front of the app's routes."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        injector.app = app
        self.injector = injector

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.injector(scope, receive, send)


def install_faults(app: FastAPI, faults: Faults, error_body: Any,
                   on_change: Any = None) -> FaultInjector:
    """Add fault injection to a FastAPI app and return the switchboard.

    Also adds its ``PUT /_emulator/faults`` switch and, unless the emulator installed its own
    (``answers.install_vendor_errors``), answers for 404/405 and other FastAPI errors in the
    vendor's error format, which every emulator needs alike.
    """
    injector = FaultInjector(None, faults, error_body)
    app.add_middleware(_FaultMiddleware, injector=injector)

    @app.put(ADMIN_PREFIX + "/faults", include_in_schema=False)
    def set_faults(new: Faults) -> dict[str, Any]:
        injector.configure(new)
        if on_change is not None:
            on_change(new)
        return new.model_dump()

    if not hasattr(app.state, "error_body"):
        install_vendor_errors(app, error_body)
    return injector
