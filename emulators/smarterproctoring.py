"""SmarterProctoring emulator: course offerings of an install.

From developers.smarterservices.com (update-course-offering, authentication) and the
Platform-Documenation ``openapi.json``: a JWT in a ``token`` header; ``installSid`` must match
``^AI[a-f0-9]{32}$`` and ``offeringSid`` ``^CO[a-f0-9]{32}$``; POST and PUT (full replacement)
take ``title`` and ``matchStrings`` (required; comma-separated) and ``startDate``/``endDate``
(nullable, ``pattern: .*Z``); answers carry ``matchStrings`` as a list. Lists page with
``offset``/``limit`` in ``{total, first, next, prev, last, count, offset, results}``. Our
readings: errors are hapi/Boom-shaped ``{statusCode, error, message}`` (SmarterServices runs
hapi), unknown body keys are refused as Joi does, the list's maximum ``limit`` is 100.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from offering_sync.emulators.faults import Faults, install_faults

__all__ = ["Install", "create_app"]

DEMO_TOKEN = "sp-demo-token"  # noqa: S105 - the emulator's published demo token
DEMO_INSTALL = "AI" + "0123456789abcdef" * 2
INSTALL_SID = re.compile(r"^AI[a-f0-9]{32}$")
OFFERING_SID = re.compile(r"^CO[a-f0-9]{32}$")
MAX_LIMIT = 100
_BODY_KEYS = {"title", "matchStrings", "startDate", "endDate"}
_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed"}


def _boom(status: int, message: str) -> JSONResponse:
    return JSONResponse({"statusCode": status, "error": _REASONS.get(status, "Error"),
                         "message": message}, status_code=status)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Install:
    """One install's course offerings."""

    def __init__(self, sid: str = DEMO_INSTALL) -> None:
        self.sid = sid
        self.offerings: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def seed(self, count: int) -> None:
        """Add generated offerings (terms, as proctoring installs usually hold)."""
        for index in range(count):
            start = datetime(2026, 1, 12, tzinfo=UTC) + timedelta(days=7 * index)
            self.save(None, {"title": f"Term {index} Spring 2026",
                             "matchStrings": f"SP26-{index},Spring 2026 {index}",
                             "startDate": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                             "endDate": (start + timedelta(days=90)).strftime(
                                 "%Y-%m-%dT%H:%M:%S.000Z")})

    def save(self, sid: str | None, body: dict[str, Any]) -> dict[str, Any]:
        """Create (``sid`` None) or fully replace an offering."""
        with self.lock:
            sid = sid or "CO" + secrets.token_hex(16)
            old = self.offerings.get(sid, {})
            record = {"sid": sid, "lastActivityDate": old.get("lastActivityDate"),
                      "title": body["title"],
                      "matchStrings": [s for s in body["matchStrings"].split(",") if s],
                      "startDate": body.get("startDate"), "endDate": body.get("endDate"),
                      "createdDate": old.get("createdDate", _stamp()), "editDate": _stamp()}
            self.offerings[sid] = record
            return record


def create_app(install: Install | None = None, *, token: str = DEMO_TOKEN,
               faults: Faults | None = None) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.install`` holds the data."""
    app = FastAPI(title="SmarterProctoring emulator", openapi_url=None, docs_url=None)
    state = app.state
    state.install = install or Install()
    state.writes = 0
    state.faults = install_faults(app, faults or Faults(), lambda status, msg: {
        "statusCode": status, "error": _REASONS.get(status, "Error"), "message": msg})
    base = "/v1/installs/{install_sid}/courseOfferings"

    def gate(request: Request, install_sid: str, offering_sid: str | None = None,
             ) -> JSONResponse | None:
        if request.headers.get("token") != token:
            return _boom(401, "Invalid token")
        if not INSTALL_SID.match(install_sid):
            return _boom(400, f'"installSid" with value "{install_sid}" fails to match the '
                         "required pattern: /^AI[a-f0-9]{32}$/")
        if offering_sid is not None and not OFFERING_SID.match(offering_sid):
            return _boom(400, f'"offeringSid" with value "{offering_sid}" fails to match the '
                         "required pattern: /^CO[a-f0-9]{32}$/")
        if install_sid != state.install.sid:
            return _boom(404, "Install not found")
        return None

    @app.get(base)
    def list_offerings(install_sid: str, request: Request) -> JSONResponse:
        refused = gate(request, install_sid)
        if refused:
            return refused
        try:
            offset = int(request.query_params.get("offset") or 0)
            limit = int(request.query_params.get("limit") or 25)
        except ValueError:
            return _boom(400, '"offset" and "limit" must be numbers')
        if offset < 0 or not 0 <= limit <= MAX_LIMIT:
            return _boom(400, f'"limit" must be between 0 and {MAX_LIMIT}; "offset" >= 0')
        with state.install.lock:
            rows = list(state.install.offerings.values())
        page = rows[offset:offset + limit]
        url = str(request.url.remove_query_params(["offset", "limit"]))

        def link(at: int) -> str:
            return f"{url}{'&' if '?' in url else '?'}offset={at}&limit={limit}"

        return JSONResponse({
            "total": len(rows), "first": link(0), "offset": offset, "count": len(page),
            "next": link(offset + limit) if limit and offset + limit < len(rows) else None,
            "prev": link(max(0, offset - limit)) if offset > 0 else None,
            "last": link(max(0, (len(rows) - 1) // limit * limit)) if limit and rows else None,
            "results": page})

    @app.get(base + "/{offering_sid}")
    def get_offering(install_sid: str, offering_sid: str, request: Request) -> JSONResponse:
        refused = gate(request, install_sid, offering_sid)
        if refused:
            return refused
        found = state.install.offerings.get(offering_sid)
        return JSONResponse(found) if found else _boom(404, "Course offering not found")

    @app.post(base)
    async def add(install_sid: str, request: Request) -> JSONResponse:
        refused = gate(request, install_sid)
        if refused:
            return refused
        body, problem = await _body(request)
        if problem:
            return _boom(400, problem)
        state.writes += 1
        return JSONResponse(state.install.save(None, body))

    @app.put(base + "/{offering_sid}")
    async def replace(install_sid: str, offering_sid: str, request: Request) -> JSONResponse:
        refused = gate(request, install_sid, offering_sid)
        if refused:
            return refused
        if offering_sid not in state.install.offerings:
            return _boom(404, "Course offering not found")
        body, problem = await _body(request)
        if problem:
            return _boom(400, problem)
        state.writes += 1
        return JSONResponse(state.install.save(offering_sid, body))

    @app.delete(base + "/{offering_sid}")
    def remove(install_sid: str, offering_sid: str, request: Request) -> JSONResponse:
        refused = gate(request, install_sid, offering_sid)
        if refused:
            return refused
        with state.install.lock:
            gone = state.install.offerings.pop(offering_sid, None)
        return JSONResponse(gone) if gone else _boom(404, "Course offering not found")

    return app


async def _body(request: Request) -> tuple[dict[str, Any], str | None]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return {}, "Invalid request payload JSON format"
    if not isinstance(body, dict):
        return {}, '"value" must be of type object'
    for key in body:
        if key not in _BODY_KEYS:
            return {}, f'"{key}" is not allowed'
    for key in ("title", "matchStrings"):
        if not isinstance(body.get(key), str) or not body[key]:
            return {}, f'"{key}" is required'
    for key in ("startDate", "endDate"):
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value.endswith("Z")
                                  or not _parses(value)):
            return {}, f'"{key}" with value "{value}" fails to match the required pattern: /.*Z/'
    return body, None


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True
