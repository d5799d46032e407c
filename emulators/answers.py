"""How every emulator answers: JSON any input can be rendered in, failures in the vendor's shape.

Handlers raise ``VendorError``; FastAPI's own 404/405/400 (``HTTPException``) and request
validation (``RequestValidationError``) are turned into the same shape by one set of exception
handlers, so fuzzed input only ever meets a 2xx or the vendor's 4xx. ``check_json`` refuses
what JSON parsers let through but no record holds (nesting deeper than any real record, NaN and
infinities), and ``JSONResponse`` escapes non-ASCII so even a lone surrogate renders.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse as _JSONResponse
from starlette.exceptions import HTTPException

__all__ = ["EXAMPLE_DATES", "MAX_DEPTH", "ErrorBody", "JSONResponse", "VendorError", "check_json",
           "checked_body", "field_path", "install_vendor_errors"]

ErrorBody = Callable[[int, str], Any]
"""Renders ``(status, message)`` as the vendor's error body."""
Describe = Callable[[Sequence[Any]], "VendorError"]
"""Turns pydantic's validation errors into the vendor's answer."""

EXAMPLE_DATES = (r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
                 r"T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$")
"""The usual form of a UTC date-time, for the emulators' OpenAPI: fuzzers then make valid ones
(the emulators themselves parse dates rather than match this)."""

MAX_DEPTH = 32
"""Deepest JSON nesting accepted: our reading (no vendor documents one); real records are < 8."""


class JSONResponse(_JSONResponse):
    """Compact JSON with every non-ASCII character escaped: a lone surrogate cannot break it."""

    def render(self, content: Any) -> bytes:
        """Escape everything outside ASCII, as the vendors' Java/Node stacks may."""
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


class VendorError(Exception):
    """A failure the handler decided on; ``body`` overrides the app's default rendering."""

    def __init__(self, status: int, message: str, *, body: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.body, self.headers = status, message, body, headers


def install_vendor_errors(app: FastAPI, error_body: ErrorBody,
                          describe: Describe | None = None) -> None:
    """Render ``VendorError``, every ``HTTPException`` and validation errors as the vendor does.

    Without ``describe``, a validation error is a 400 naming the first failing field.
    """
    app.state.error_body = error_body

    async def vendor(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, VendorError)
        body = exc.body if exc.body is not None else error_body(exc.status, exc.message)
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    async def http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        message = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code,
                                                                   str(exc.detail))
        return JSONResponse(error_body(exc.status_code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        refused = describe(errors) if describe else VendorError(400, _first(errors))
        return await vendor(request, refused)

    app.add_exception_handler(VendorError, vendor)
    app.add_exception_handler(HTTPException, http)
    app.add_exception_handler(RequestValidationError, invalid)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "address", "country")`` → ``address.country``; list indexes as ``[0]``."""
    parts: list[str] = []
    for part in loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "body"


def _first(errors: Sequence[Any]) -> str:
    if not errors:
        return "The request is invalid"
    error = errors[0]
    where = field_path(error.get("loc", ()))
    if error.get("type") == "missing":
        return f"{where} is required"
    return f"{where}: {error.get('msg', 'is invalid')}"


def check_json(value: Any, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than ``limit`` and non-finite numbers (walked iteratively).

    Python's parser accepts ``NaN`` and ``Infinity``, which are not JSON and cannot be answered.

    Raises:
        VendorError: 400, naming the problem.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise VendorError(400, f"The request body is nested deeper than {limit} levels")
        if isinstance(item, float) and not math.isfinite(item):
            raise VendorError(400, "The request body holds a number JSON cannot represent")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


async def checked_body(request: Request) -> None:
    """Router dependency: run ``check_json`` on a JSON body before any model sees it.

    Raises:
        VendorError: 400, the body nests too deeply or holds NaN/Infinity.
    """
    if not await request.body():
        return
    try:
        body = await request.json()
    except (ValueError, RecursionError):
        return  # FastAPI itself answers unparsable bodies (rendered by the handlers above)
    check_json(body)
