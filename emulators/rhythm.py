"""Rhythm Certifications API (v1-2025-04-18) emulator: a tenant's course offerings.

Only the documented calls, plus the list-all every sync needs. Each route's docstring says
whether the vendor documents it (with the page) or it is our reading. In short:

* documented: ``GET /courseOfferings/{tenantId}/{id}`` with ``fields`` and ``consistentRead``
  (getcourseoffering, seed 001); create generates the id and refuses a body carrying one
  (Course-Offerings tag); lists take ``fields`` and ``exclusiveStartKey`` and answer
  ``{Count, Items}`` (listofferingsbyinstructorid); the record schema (seed 001,
  ``rhythm_schema``); Auth0 tokens (``rhythm_tokens``).
* our reading: the list-all path ``GET /courseOfferings/{tenantId}``; the continuation key
  ``LastEvaluatedKey``, a DynamoDB-style object ``{"tenant_id", "id"}`` sent back JSON-encoded
  (``paging="string"``: an opaque string sent back as is; ``paging="array"``: a bare array, one
  page), anything else a 400; the create path ``POST /courseOfferings/{tenantId}`` answering
  200 with the record; PUT as a full replacement that must carry the ``sys_version`` it read
  (400 without, 409 when stale); ``sys_locked`` records refuse writes (403); DELETE; errors
  ``{"message": ...}`` (API Gateway's). ``stale_reads=True`` makes reads without
  ``consistentRead=true`` miss writes of the last ``stale_seconds`` (DynamoDB's eventual reads).

There is no search call and no modified-since filter: undocumented paths answer 404.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from offering_sync.emulators.faults import Faults, install_faults
from offering_sync.emulators.rhythm_keys import Paging, key_in, key_out
from offering_sync.emulators.rhythm_schema import OfferingBody
from offering_sync.emulators.rhythm_store import DEMO_TENANT, TARGET_ONLY_FIELDS, Tenant
from offering_sync.emulators.rhythm_tokens import AUDIENCE, accept_bearer
from offering_sync.emulators.rhythm_tokens import router as token_router

__all__ = ["AUDIENCE", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "DEMO_TENANT",
           "TARGET_ONLY_FIELDS", "Paging", "Tenant", "create_app", "router"]

DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "rhythm-demo-client", "rhythm-demo-secret"
PAGE_SIZE = 100  # our reading: DynamoDB pages at 1 MB; no page size is documented
WebinarRule = Literal["when_enabled", "always"]


@dataclass
class Config:
    """The switches of one emulator instance (see the module docstring)."""

    client_id: str = DEMO_CLIENT_ID
    client_secret: str = DEMO_CLIENT_SECRET
    monthly_token_limit: int = 1000
    token_ttl_seconds: int = 86400
    paging: Paging = "object"
    page_size: int = PAGE_SIZE
    webinar_options: WebinarRule = "when_enabled"
    locked_status: int = 403
    stale_reads: bool = False
    stale_seconds: float = 1.0


def create_app(tenant: Tenant | None = None, *, client_id: str = DEMO_CLIENT_ID,
               client_secret: str = DEMO_CLIENT_SECRET, monthly_token_limit: int = 1000,
               token_ttl_seconds: int = 86400, paging: Paging = "object",
               page_size: int = PAGE_SIZE, webinar_options: WebinarRule = "when_enabled",
               locked_status: int = 403, stale_reads: bool = False, stale_seconds: float = 1.0,
               clock: Callable[[], float] = time.time, faults: Faults | None = None) -> FastAPI:
    """Assemble the emulator; ``app.state.tenant`` holds the data, ``tokens_issued`` counts."""
    app = FastAPI(title="Rhythm Certifications emulator", openapi_url="/_emulator/openapi.json",
                  docs_url=None, redoc_url=None)
    state = app.state
    state.config = Config(client_id, client_secret, monthly_token_limit, token_ttl_seconds,
                          paging, page_size, webinar_options, locked_status, stale_reads,
                          stale_seconds)
    state.clock = clock
    state.tenant = tenant or Tenant(clock=clock)
    state.tokens = {}
    state.tokens_by_month = {}
    state.tokens_issued = 0
    state.writes = 0
    state.accept_token = lambda token: accept_bearer(state, token)
    install_vendor_errors(app, _message, _describe)
    state.faults = install_faults(app, faults or Faults(), _message)
    app.include_router(token_router)
    app.include_router(router)
    app.include_router(admin)
    return app


def _message(_status: int, message: str) -> dict[str, str]:
    return {"message": message}


def _describe(errors: Sequence[Any]) -> VendorError:
    """A 400 naming the first field the schema refuses (our reading of the body shape)."""
    error = errors[0] if errors else {}
    where = field_path(error.get("loc", ()))
    kind = error.get("type")
    if kind == "missing":
        return VendorError(400, f"{where} is required")
    if kind == "literal_error":
        return VendorError(400, f"{where} must be one of the documented values")
    return VendorError(400, f"{where}: {error.get('msg', 'is invalid')}")


def tenant_for(tenant_id: str, request: Request,
               token_tenant: Annotated[str, Depends(bearer_auth())]) -> Tenant:
    """The tenant in the path, when the bearer token was minted for it.

    Raises:
        VendorError: 403 for another tenant ("a tenantId value passed in the URI", concepts).
    """
    tenant: Tenant = request.app.state.tenant
    if tenant_id != token_tenant or tenant_id != tenant.tenant_id:
        raise VendorError(403, f"Access to tenant {tenant_id[:100]} is not allowed")
    return tenant


router = APIRouter(prefix="/courseOfferings/{tenant_id}", dependencies=[Depends(checked_body)])
admin = APIRouter(prefix="/_emulator", include_in_schema=False)
Fields = Annotated[str | None, Query(description="comma-separated fields to return")]
Consistent = Annotated[str | None, Query(alias="consistentRead")]


@router.get("")
def list_offerings(request: Request, tenant: Annotated[Tenant, Depends(tenant_for)],
                   fields: Fields = None, consistent: Consistent = None,
                   start: Annotated[str | None, Query(alias="exclusiveStartKey")] = None,
                   ) -> JSONResponse:
    """Our reading of list-all (seed-apis.md §2.3); ``{Count, Items}`` and the key: see above.

    The answer shape and ``exclusiveStartKey`` are documented for the sibling lists
    (listofferingsbyinstructorid); ``LastEvaluatedKey`` and its encoding are our reading.
    """
    config: Config = request.app.state.config
    stale = _stale(config, consistent)
    if config.paging == "array":
        if start is not None:
            raise VendorError(400, "exclusiveStartKey was not handed out by this listing")
        items, _ = tenant.scan(None, len(tenant.records) + len(tenant.recent), stale_for=stale)
        return JSONResponse([_project(r, fields) for r in items])
    after = key_in(config.paging, tenant.tenant_id, start)
    items, more = tenant.scan(after, config.page_size, stale_for=stale)
    body: dict[str, Any] = {"Count": len(items), "Items": [_project(r, fields) for r in items]}
    if more:
        body["LastEvaluatedKey"] = key_out(config.paging, tenant.tenant_id, items[-1]["id"])
    return JSONResponse(body)


@router.get("/{offering_id}")
def get_offering(offering_id: str, request: Request,
                 tenant: Annotated[Tenant, Depends(tenant_for)], fields: Fields = None,
                 consistent: Consistent = None) -> JSONResponse:
    """Documented: getcourseoffering (seed 001), ``fields`` and ``consistentRead``."""
    record = tenant.read(offering_id, stale_for=_stale(request.app.state.config, consistent))
    if record is None:
        raise VendorError(404, f"Course offering {offering_id[:100]} was not found")
    return JSONResponse(_project(record, fields))


@router.post("")
async def create_offering(body: OfferingBody, request: Request,
                          tenant: Annotated[Tenant, Depends(tenant_for)]) -> JSONResponse:
    """Documented semantics (Course-Offerings tag): the server makes the id and refuses one.

    The path and the 200 answer carrying the record are our reading.
    """
    raw = await request.json()
    if raw.get("id") not in (None, ""):
        raise VendorError(400, "An ID should not be specified when creating a new record")
    _check_webinar(request.app.state.config, body)
    record = tenant.insert(raw)
    request.app.state.writes += 1
    return JSONResponse(record)


@router.put("/{offering_id}")
async def replace_offering(offering_id: str, body: OfferingBody, request: Request,
                           tenant: Annotated[Tenant, Depends(tenant_for)]) -> JSONResponse:
    """Our reading (seed-apis.md §2.3): a full replacement checked against ``sys_version``.

    Fields the body does not carry are gone afterwards; the answer is the stored record.
    """
    raw = await request.json()
    config: Config = request.app.state.config
    if raw.get("id") not in (None, offering_id):
        raise VendorError(400, "The id in the body does not match the path")
    _check_webinar(config, body)
    with tenant.lock:
        current = _writable(tenant, offering_id, config)
        if body.sys_version is None:
            raise VendorError(400, "sys_version is required: send the version you read")
        if body.sys_version != current["sys_version"]:
            raise VendorError(409, f"The record is at version {current['sys_version']}, "
                                   f"not {body.sys_version}: read it again")
        record = tenant.replace(offering_id, raw)
    request.app.state.writes += 1
    return JSONResponse(record)


@router.delete("/{offering_id}")
def delete_offering(offering_id: str, request: Request,
                    tenant: Annotated[Tenant, Depends(tenant_for)]) -> JSONResponse:
    """Our reading (seed-apis.md §2.3): removes the record and answers it as it was."""
    with tenant.lock:
        _writable(tenant, offering_id, request.app.state.config)
        gone = tenant.delete(offering_id)
    request.app.state.writes += 1
    return JSONResponse(gone)


@router.api_route("/{offering_id}", methods=["POST", "PATCH"], include_in_schema=False)
def no_such_call(offering_id: str) -> JSONResponse:
    """Not documented, so not served: 404, as for any unknown path.

    ``POST .../search`` (our old reading) and PATCH answer so, rather than 405s that would hint
    the path exists.
    """
    raise VendorError(404, "Not Found")


@admin.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Offerings held, writes, tokens minted and faults injected."""
    state = request.app.state
    return {"offerings": len(state.tenant.records), "writes": state.writes,
            "tokens_issued": state.tokens_issued, "injected": state.faults.injected}


def _writable(tenant: Tenant, offering_id: str, config: Config) -> dict[str, Any]:
    current = tenant.records.get(offering_id)
    if current is None:
        raise VendorError(404, f"Course offering {offering_id[:100]} was not found")
    if current.get("sys_locked"):  # documented: "locked and cannot be changed via the API"
        raise VendorError(config.locked_status,
                          "This record is locked and cannot be changed via the API")
    return current


def _check_webinar(config: Config, body: OfferingBody) -> None:
    if body.webinar_integration_options is not None:
        return
    if config.webinar_options == "always":
        raise VendorError(400, "webinar_integration_options is required")
    if body.enable_webinar_integration:
        raise VendorError(400, "webinar_integration_options is required when "
                               "enable_webinar_integration is set")


def _stale(config: Config, consistent: str | None) -> float:
    wants_consistent = (consistent or "").lower() == "true"
    return config.stale_seconds if config.stale_reads and not wants_consistent else 0.0


def _project(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
    """Only the named fields (dotted paths reach into objects), as ``fields`` asks."""
    if not fields:
        return record
    out: dict[str, Any] = {}
    for path in fields.split(","):
        parts = [p for p in path.strip().split(".") if p]
        if parts:
            _copy(record, out, parts)
    return out


def _copy(source: Any, target: dict[str, Any], parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if not isinstance(source, dict) or head not in source:
        return
    if not rest:
        target[head] = source[head]
        return
    child = target.setdefault(head, {})
    if isinstance(child, dict):
        _copy(source[head], child, rest)
