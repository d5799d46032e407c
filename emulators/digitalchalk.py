"""DigitalChalk API v5 emulator: offerings list and get, as the vendor documents them.

Documented (developer.digitalchalk.com/document/rest-api-v5; seed-apis.md §4): a Bearer token
from the web UI (using-oauth-2-0); ``GET /offerings`` (seed 004, get-offerings) with ``limit``
(default 15, max 100) and zero-based ``offset`` (limit-and-offset), filters ``createdDate``,
``title``, ``offeringCategoryId``, ``tag`` and ``studentId`` (alias ``userId``, as the official
clients send); answers ``{results, next, prev}`` with ``next`` only while a further page exists
(limit-and-offset), fields with no value omitted (seed 004); ``GET /offerings/{id}`` with 404
when absent (get-offerings-id); errors ``{"fieldErrors": {...}}`` / ``{"errors": [...]}``
(handling-errors). Our readings, each a switch of ``create_app``: 401 bodies
``{"error": "invalid_token", ...}`` (the official clients read ``error``/``error_description``);
``listing="array"``: the bare JSON array the Get-offerings example shows, which carries no end
signal, so the end is an empty page; ``short_pages=True``: a page may hold fewer than ``limit``
records while more follow (nothing in the docs promises full pages); writes to offerings answer
405 (none are documented); the ``createdDate`` range form ``start,end``. The catalog
(``digitalchalk_catalog``) is generated lazily from a seed, so a million offerings cost no
memory.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request

from offering_sync.emulators.answers import (
    JSONResponse,
    VendorError,
    checked_body,
    field_path,
    install_vendor_errors,
)
from offering_sync.emulators.auth import bearer_auth
from offering_sync.emulators.digitalchalk_catalog import Catalog, created_window, select
from offering_sync.emulators.faults import Faults, install_faults

__all__ = ["DEFAULT_TOKEN", "Catalog", "Listing", "create_app", "router"]

Listing = Literal["envelope", "array"]

DEFAULT_TOKEN = "dc-demo-token"  # noqa: S105 - the emulator's published demo token
DEFAULT_LIMIT, MAX_LIMIT = 15, 100
@dataclass
class Config:
    """How this instance answers where the docs leave room (see the module docstring)."""

    token: str
    listing: Listing = "envelope"
    short_pages: bool = False


def create_app(catalog: Catalog | None = None, *, token: str = DEFAULT_TOKEN,
               base_path: str = "/dc/api/v5", envelope: bool = True,
               listing: Listing | None = None, short_pages: bool = False,
               faults: Faults | None = None) -> FastAPI:
    """Assemble the emulator: ``app.state.catalog`` is the data, for tests and the demo.

    ``listing`` ("envelope" or "array") supersedes the older ``envelope`` flag.
    """
    app = FastAPI(title="DigitalChalk v5 emulator", openapi_url="/_emulator/openapi.json",
                  docs_url=None, redoc_url=None)
    state = app.state
    state.catalog = catalog or Catalog()
    state.config = Config(token, listing or ("envelope" if envelope else "array"), short_pages)
    state.requests = 0
    state.accept_token = lambda given: _accept(state.config, given)
    faults = faults or Faults()
    state.catalog.malformed_rate = faults.malformed_rate
    install_vendor_errors(app, lambda status, msg: {"errors": [msg]}, _field_errors)
    state.faults = install_faults(
        app, faults, lambda status, msg: {"errors": [msg]},
        on_change=lambda new: setattr(state.catalog, "malformed_rate", new.malformed_rate))
    app.include_router(router, prefix=base_path)
    app.include_router(admin)
    return app


def _accept(config: Config, given: str | None) -> str:
    if given != config.token:  # our reading of the 401 body; the clients read these keys
        raise VendorError(401, "Invalid access token", body={
            "error": "invalid_token", "error_description": "Invalid access token"})
    return given


def _count(request: Request) -> None:
    request.app.state.requests += 1


def _field_errors(errors: Sequence[Any]) -> VendorError:
    """Bad parameters as the documented ``fieldErrors`` map (handling-errors)."""
    fields = {field_path(e.get("loc", ())): str(e.get("msg", "Invalid value.")) for e in errors}
    return VendorError(400, "Invalid parameters", body={"fieldErrors": fields})


router = APIRouter(dependencies=[Depends(_count), Depends(bearer_auth()),
                                 Depends(checked_body)])
admin = APIRouter(prefix="/_emulator", include_in_schema=False)


@router.get("/offerings")
def list_offerings(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0)] = 0,
    created_date: Annotated[str | None, Query(alias="createdDate")] = None,
    title: str | None = None,
    offering_category_id: Annotated[str | None, Query(alias="offeringCategoryId")] = None,
    tag: str | None = None,
    student_id: Annotated[str | None, Query(alias="studentId")] = None,
    user_id: Annotated[str | None, Query(alias="userId")] = None,
) -> JSONResponse:
    """Documented: get-offerings (seed 004) and limit-and-offset; filters as listed there.

    ``studentId``/``userId`` are accepted and do not narrow: the emulator has no users.
    """
    errors: dict[str, str] = {}
    window = created_window(created_date, errors)
    if errors:
        raise VendorError(400, "Invalid parameters", body={"fieldErrors": errors})
    state = request.app.state
    config: Config = state.config
    filters = {"title": title, "offeringCategoryId": offering_category_id, "tag": tag}
    results, more = select(state.catalog, filters, window, offset, limit)
    if config.short_pages and results:
        served = _short_size(offset, limit)
        more = more or served < len(results)
        results = results[:served]
    if config.listing == "array":
        return JSONResponse(results)
    body: dict[str, Any] = {"results": results}
    if more:
        body["next"] = _link(request, offset + len(results), limit)
    if offset > 0:
        body["prev"] = _link(request, max(0, offset - limit), limit)
    return JSONResponse(body)


@router.get("/offerings/{offering_id}")
def get_offering(offering_id: str, request: Request) -> JSONResponse:
    """Documented: get-offerings-id, 404 when there is no offering at that URL."""
    record = request.app.state.catalog.find(offering_id)
    if record is None:
        raise VendorError(404, f"No offering found with id {offering_id}")
    return JSONResponse(record)


def no_writes() -> JSONResponse:
    """Our reading: no write to offerings is documented or in the official clients (§4.2)."""
    raise VendorError(405, "Method not allowed for offerings")


def no_writes_to_one(offering_id: str) -> JSONResponse:
    """Our reading, as ``no_writes``, for one offering's URL."""
    return no_writes()


for _method in ("POST", "PUT", "DELETE", "PATCH"):
    router.add_api_route("/offerings", no_writes, methods=[_method],
                         name=f"no_{_method.lower()}_offerings")
    router.add_api_route("/offerings/{offering_id}", no_writes_to_one, methods=[_method],
                         name=f"no_{_method.lower()}_offering")


@admin.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Requests served, offerings held and faults injected."""
    state = request.app.state
    return {"requests": state.requests, "offerings": state.catalog.total(),
            "injected": state.faults.injected, "max_in_flight": state.faults.max_in_flight}


@admin.post("/offerings")
def add(records: list[dict[str, Any]], request: Request) -> dict[str, int]:
    """Append offerings as the vendor would return them."""
    request.app.state.catalog.add(records)
    return {"offerings": request.app.state.catalog.total()}


@admin.post("/generate")
def generate(body: dict[str, int], request: Request) -> dict[str, int]:
    """Regenerate the catalog with ``count`` offerings from ``seed``."""
    catalog = request.app.state.catalog
    catalog.count = int(body.get("count", 0))
    catalog.seed = int(body.get("seed", catalog.seed))
    return {"offerings": catalog.total()}


@admin.patch("/offerings/{offering_id}")
def edit(offering_id: str, changes: dict[str, Any], request: Request) -> dict[str, str]:
    """Change an offering as a user would in DigitalChalk."""
    request.app.state.catalog.edit(offering_id, changes)
    return {"id": offering_id}


def _short_size(offset: int, limit: int) -> int:
    """How many records a short page holds: 1..limit, fixed per offset (repeatable)."""
    return 1 + zlib.crc32(str(offset).encode()) % limit


def _link(request: Request, offset: int, limit: int) -> str:
    params = dict(request.query_params)
    params.update(offset=str(offset), limit=str(limit))
    return str(request.url.replace_query_params(**params))

