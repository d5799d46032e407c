"""SmarterProctoring emulator: the course offerings of one install.

Documented (developers.smarterservices.com: authentication, update-course-offering = seed 002;
the ``openapi.json`` of SmarterServices/Platform-Documenation @ c04b69a; seed-apis.md §3):
a JWT in a ``token`` header; ``installSid`` matches ``^AI[a-f0-9]{32}$`` and ``offeringSid``
``^CO[a-f0-9]{32}$``; list, add (POST), get, update (PUT) and delete; POST and PUT take
``title`` and ``matchStrings`` (both required, ``matchStrings`` a comma-separated string) and
``startDate``/``endDate`` (nullable, ``pattern: .*Z``); PUT "replaces the full course offering
configuration"; answers carry ``sid``, ``lastActivityDate``, ``title``, ``matchStrings`` as a
list, ``startDate``, ``endDate``, ``createdDate``, ``editDate``. Our readings: the list answers
the envelope documented for the other lists, ``{total, first, next, prev, last, count, offset,
results}``, with numeric ``offset`` (empty on the first call) and ``limit`` (default 25, at most
100); errors are hapi/Boom ``{statusCode, error, message}`` with Joi's wording (SmarterServices
runs hapi), and a body key outside the four documented ones is refused as Joi does by default
(``unknown_keys="ignore"`` switches that off); POST answers 200 (``create_status``); writes set
``lastActivityDate``; DELETE answers the offering it removed; match strings are split on commas
and empty pieces dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request

from offering_sync.emulators.answers import (
    JSONResponse,
    VendorError,
    checked_body,
    field_path,
    install_vendor_errors,
)
from offering_sync.emulators.auth import header_auth
from offering_sync.emulators.faults import Faults, install_faults
from offering_sync.emulators.smarterproctoring_store import DEMO_INSTALL, Install, OfferingPayload

__all__ = ["DEMO_INSTALL", "DEMO_TOKEN", "Install", "OfferingPayload", "create_app", "router"]

DEMO_TOKEN = "sp-demo-token"  # noqa: S105 - the emulator's published demo token
INSTALL_PATTERN = r"^AI[a-f0-9]{32}$"
OFFERING_PATTERN = r"^CO[a-f0-9]{32}$"
DEFAULT_LIMIT, MAX_LIMIT = 25, 100
_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}


def boom(status: int, message: str) -> dict[str, Any]:
    """A hapi/Boom error body (our reading, seed-apis.md §3.4)."""
    return {"statusCode": status, "error": _REASONS.get(status, "Error"), "message": message}


@dataclass
class Config:
    """The switches of one emulator instance (see the module docstring)."""

    token: str = DEMO_TOKEN
    create_status: int = 200
    unknown_keys: Literal["refuse", "ignore"] = "refuse"


def create_app(install: Install | None = None, *, token: str = DEMO_TOKEN,
               create_status: int = 200, unknown_keys: Literal["refuse", "ignore"] = "refuse",
               faults: Faults | None = None) -> FastAPI:
    """Assemble the emulator; ``app.state.install`` holds the data."""
    app = FastAPI(title="SmarterProctoring emulator", openapi_url="/_emulator/openapi.json",
                  docs_url=None, redoc_url=None)
    state = app.state
    state.install = install or Install()
    state.config = Config(token, create_status, unknown_keys)
    state.writes = 0
    state.accept_token = lambda given: _accept(state.config, given)
    install_vendor_errors(app, boom, _joi)
    state.faults = install_faults(app, faults or Faults(), boom)
    app.include_router(router)
    return app


def _accept(config: Config, given: str | None) -> str:
    if given is None:
        raise VendorError(401, "Missing authentication")
    if given != config.token:
        raise VendorError(401, "Invalid token")
    return given


def _joi(errors: Sequence[Any]) -> VendorError:
    """The first problem in Joi's words (hapi validates with Joi)."""
    error = errors[0] if errors else {}
    name = field_path(error.get("loc", ())).split(".")[-1]
    kind, value = error.get("type", ""), error.get("input")
    if kind == "json_invalid":
        return VendorError(400, "Invalid request payload JSON format")
    if kind == "missing":
        return VendorError(400, f'"{name}" is required')
    if kind == "extra_forbidden":
        return VendorError(400, f'"{name}" is not allowed')
    if kind == "string_too_short":
        return VendorError(400, f'"{name}" is not allowed to be empty')
    if kind == "string_type":
        return VendorError(400, f'"{name}" must be a string')
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return VendorError(400, '"value" must be of type object')
    if kind in ("int_parsing", "int_type"):
        return VendorError(400, f'"{name}" must be a number')
    ctx = error.get("ctx") or {}
    if kind == "less_than_equal":
        return VendorError(400, f'"{name}" must be less than or equal to {ctx.get("le")}')
    if kind == "greater_than_equal":
        return VendorError(400, f'"{name}" must be greater than or equal to {ctx.get("ge")}')
    if kind not in ("string_pattern_mismatch", "value_error"):
        return VendorError(400, f'"{name}" is invalid')
    pattern = ".*Z" if name in ("startDate", "endDate") else ctx.get("pattern", "")
    shown = str(value)[:100] if not isinstance(value, dict | list) else "[object]"
    return VendorError(400, f'"{name}" with value "{shown}" fails to match the required '
                            f"pattern: /{pattern}/")


router = APIRouter(prefix="/v1/installs/{installSid}/courseOfferings",
                   dependencies=[Depends(header_auth("token")), Depends(checked_body)])
InstallSid = Annotated[str, Path(pattern=INSTALL_PATTERN, examples=[DEMO_INSTALL])]
OfferingSid = Annotated[str, Path(pattern=OFFERING_PATTERN)]


def install_of(installSid: InstallSid, request: Request) -> Install:  # noqa: N803
    """The install in the path; 404 for any other."""
    install: Install = request.app.state.install
    if installSid != install.sid:
        raise VendorError(404, "Install not found")
    return install


InstallDep = Annotated[Install, Depends(install_of)]


@router.get("")
def list_offerings(
    request: Request, install: InstallDep,
    offset: Annotated[str | None, Query(pattern=r"^\d*$", description="empty on the first call")]
    = None,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> JSONResponse:
    """Documented path and ``offset``/``limit`` (openapi.json); the envelope is our reading."""
    start = int(offset) if offset else 0
    with install.lock:
        rows = list(install.offerings.values())
    page = rows[start:start + limit]
    url = request.url.remove_query_params(["offset", "limit"])

    def link(at: int) -> str:
        return str(url.include_query_params(offset=at, limit=limit))

    last = max(0, (len(rows) - 1) // limit * limit) if limit else 0
    return JSONResponse({
        "total": len(rows), "first": link(0), "offset": start, "count": len(page),
        "next": link(start + limit) if limit and start + limit < len(rows) else None,
        "prev": link(max(0, start - limit)) if limit and start > 0 else None,
        "last": link(last) if rows else None, "results": page})


@router.get("/{offeringSid}")
def get_offering(offeringSid: OfferingSid, install: InstallDep) -> JSONResponse:  # noqa: N803
    """Documented (openapi.json: Get course offering)."""
    found = install.offerings.get(offeringSid)
    if found is None:
        raise VendorError(404, "Course offering not found")
    return JSONResponse(found)


@router.post("")
async def add_offering(payload: OfferingPayload, request: Request,
                       install: InstallDep) -> JSONResponse:
    """Documented (openapi.json: Add course offering); the answer's status is our reading."""
    body = await _body(payload, request)
    record = install.save(None, body)
    request.app.state.writes += 1
    return JSONResponse(record, status_code=request.app.state.config.create_status)


@router.put("/{offeringSid}")
async def update_offering(offeringSid: OfferingSid,  # noqa: N803
                          payload: OfferingPayload, request: Request,
                          install: InstallDep) -> JSONResponse:
    """Documented (seed 002): replaces the whole offering; title and matchStrings required."""
    body = await _body(payload, request)
    with install.lock:
        if offeringSid not in install.offerings:
            raise VendorError(404, "Course offering not found")
    record = install.save(offeringSid, body)
    request.app.state.writes += 1
    return JSONResponse(record)


@router.delete("/{offeringSid}")
def delete_offering(offeringSid: OfferingSid, request: Request,  # noqa: N803
                    install: InstallDep) -> JSONResponse:
    """Documented path (openapi.json: Delete course offering); the answer is our reading."""
    with install.lock:
        gone = install.offerings.pop(offeringSid, None)
    if gone is None:
        raise VendorError(404, "Course offering not found")
    request.app.state.writes += 1
    return JSONResponse(gone)


async def _body(payload: OfferingPayload, request: Request) -> dict[str, Any]:
    """The validated body; a key outside the four is refused, or dropped when so switched.

    Raises:
        VendorError: 400 ``"<key>" is not allowed`` (Joi's default for unknown keys).
    """
    if request.app.state.config.unknown_keys == "refuse":
        raw = await request.json()
        for key in raw:
            if key not in OfferingPayload.model_fields:
                raise VendorError(400, f'"{str(key)[:100]}" is not allowed')
    return payload.model_dump()
