"""What every route of the emulated org shares: its state, the error shape, the API gate.

REST errors are the documented array ``[{"errorCode", "message"}]`` (api_rest errorcodes); the
gate every versioned data call goes through checks the version, the session and the daily
quota, and (when the org is served on a login host and an instance host) that the call came to
the instance host, as an org's session belongs to its instance (our reading: the docs say to
use the ``instance_url`` of the token response for every call).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import JSONResponse

__all__ = ["MIN_VERSION", "SalesforceError", "Version", "api_session", "error", "gate",
           "limit_header", "org_state"]

MIN_VERSION = 20.0
MAX_VERSION = 66.0


class SalesforceError(Exception):
    """A whole-request error, answered in the REST error array shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JSONResponse:
    """The REST API's error array."""
    return JSONResponse([{"errorCode": code, "message": message}], status_code=status)


async def on_salesforce_error(_request: Request, exc: Exception) -> JSONResponse:
    """Exception handler turning ``SalesforceError`` into the vendor's answer."""
    assert isinstance(exc, SalesforceError)
    return error(exc.status, exc.code, exc.message)


def org_state(request: Request) -> Any:
    """The app's state (``org``, ``tokens``, ``settings``, counters)."""
    return request.app.state


def limit_header(state: Any) -> dict[str, str]:
    """``Sforce-Limit-Info`` as every REST answer carries it (api_rest headers_api_usage)."""
    return {"Sforce-Limit-Info": f"api-usage={state.usage}/{state.settings['daily_limit']}"}


def _same_origin(request: Request, url: str) -> bool:
    from urllib.parse import urlsplit

    want = urlsplit(url)
    host = request.headers.get("host", "")
    return host.lower() == (want.netloc or "").lower()


# The versions the generated OpenAPI offers a fuzzer (a hint: nothing is validated by it).
Version = Annotated[str, Path(json_schema_extra={"enum": ["64.0", "65.0", "66.0"]})]


def api_session(request: Request, version: Version) -> str:
    """The gate as a FastAPI dependency for the REST resources (v20.0 and later)."""
    return gate(request, version, MIN_VERSION)


def gate(request: Request, version: str, min_version: float) -> str:
    """Version, session, instance-host and quota checks; returns the token."""
    state = org_state(request)
    try:
        number = float(version)
    except ValueError:
        number = 0.0
    if not min_version <= number <= state.settings["max_version"]:
        raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
    if token is None or token not in state.tokens:
        raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
    instance = state.settings.get("instance_url")
    if instance and not _same_origin(request, instance):
        raise SalesforceError(401, "INVALID_SESSION_ID",
                              "Session expired or invalid (this host is not the org's instance)")
    left = state.tokens[token]
    if left is not None:
        if left <= 0:
            raise SalesforceError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        state.tokens[token] = left - 1
    state.usage += 1
    if state.usage > state.settings["daily_limit"]:
        raise SalesforceError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    return token
