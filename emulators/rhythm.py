"""Rhythm Certifications API (v1-2025-04-18) emulator: course offerings.

From docs.api.rhythmsoftware.com (getcourseoffering, the Course-Offerings tag, tutorials on
authentication and concepts): Auth0 client-credentials tokens for the audience
``https://api.rhythmsoftware.com`` (a monthly cap on issued tokens), ``Authorization: Bearer``;
``GET /courseOfferings/{tenantId}/{id}`` with ``fields`` and ``consistentRead``; create generates
the id and refuses a body that carries one; snake_case records with ``sys_*`` audit fields.
Our readings where the docs are silent (flagged in the README): the list-all and search paths,
the search body ``{"criteria": [{field, operator, value}]}``, paging by ``exclusiveStartKey``
answered as ``{Count, Items, LastEvaluatedKey}``, PUT as full replace with ``sys_version``
checked (409 on a stale version), and errors as ``{"message": ...}``.
"""

from __future__ import annotations

import json
import random
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from offering_sync.countries import ISO_3166_ALPHA2  # the vendor's own enum, copied from its docs
from offering_sync.emulators.faults import Faults, install_faults

__all__ = ["Tenant", "create_app"]

DEMO_TENANT, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "demo-tenant", "rhythm-demo-client", \
    "rhythm-demo-secret"
AUDIENCE = "https://api.rhythmsoftware.com"
PAGE_SIZE = 100
TYPES = {"in person", "on-demand", "virtual"}
REQUIRED = ("name", "course_id", "start_date", "end_date", "timezone", "training_location_id",
            "training_provider_id")
_OPERATORS = {
    "equals": lambda a, b: a == b, "greater than": lambda a, b: a > b,
    "greater than or equal to": lambda a, b: a >= b, "less than": lambda a, b: a < b,
    "less than or equal to": lambda a, b: a <= b,
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Tenant:
    """One tenant's course offerings in insertion order."""

    def __init__(self, tenant_id: str = DEMO_TENANT) -> None:
        self.tenant_id = tenant_id
        self.records: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def seed(self, count: int, seed: int = 1) -> None:
        """Add ``count`` generated offerings as if users had entered them."""
        rng = random.Random(seed)
        for index in range(count):
            start = datetime(2026, 1, 5, 14, tzinfo=UTC) + timedelta(days=index % 300)
            record = {
                "name": f"Rhythm course {index} – Führung", "course_id": f"course-{index % 7}",
                "type": rng.choice(sorted(TYPES)), "timezone": "America/New_York",
                "start_date": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end_date": (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "capacity_options": {"capacity": rng.randrange(0, 60)},
                "training_location_id": "loc-1", "training_provider_id": "prov-1",
                "credits_to_assign": [], "eligibility_requirements": {},
                "address": {"city": "Columbia", "state": "SC", "country": "US"},
            }
            self.insert(record)

    def insert(self, body: dict[str, Any]) -> dict[str, Any]:
        """Store a new record with generated id and audit fields."""
        record_id = secrets.token_hex(8)
        stamp = _now()
        record = {**body, "id": record_id, "sys_created_at": stamp, "sys_created_by_id": "api",
                  "sys_last_modified_at": stamp, "sys_last_modified_by_id": "api",
                  "sys_version": 1}
        with self.lock:
            self.records[record_id] = record
        return record


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=status)


def create_app(tenant: Tenant | None = None, *, client_id: str = DEMO_CLIENT_ID,
               client_secret: str = DEMO_CLIENT_SECRET, monthly_token_limit: int = 1000,
               faults: Faults | None = None) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.tenant`` holds the data."""
    app = FastAPI(title="Rhythm Certifications emulator", openapi_url=None, docs_url=None)
    state = app.state
    state.tenant = tenant or Tenant()
    state.tokens = {}
    state.tokens_issued = 0
    state.writes = 0
    state.faults = install_faults(app, faults or Faults(),
                                  lambda status, msg: {"message": msg})

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        body = await _json(request)
        if not isinstance(body, dict) or body.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "invalid_request",
                                 "error_description": "grant_type must be client_credentials"},
                                400)
        if body.get("client_id") != client_id or body.get("client_secret") != client_secret:
            return JSONResponse({"error": "access_denied", "error_description": "Unauthorized"},
                                401)
        if body.get("audience") != AUDIENCE:
            return JSONResponse({"error": "access_denied", "error_description":
                                 f"Service not found: {body.get('audience')}"}, 403)
        if state.tokens_issued >= monthly_token_limit:
            return JSONResponse({"error": "too_many_requests", "error_description":
                                 "monthly M2M token quota exceeded"}, 429)
        state.tokens_issued += 1
        issued = "eyJ" + secrets.token_urlsafe(32)
        state.tokens[issued] = state.tenant.tenant_id
        return JSONResponse({"access_token": issued, "token_type": "Bearer",
                             "expires_in": 86400})

    def gate(request: Request, tenant_id: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        token_tenant = state.tokens.get(header.removeprefix("Bearer ")) \
            if header.startswith("Bearer ") else None
        if token_tenant is None:
            return _error(401, "Unauthorized")
        if tenant_id != token_tenant:
            return _error(403, f"Access to tenant {tenant_id} is not allowed")
        return None

    @app.get("/courseOfferings/{tenant_id}")
    def list_all(tenant_id: str, request: Request) -> JSONResponse:
        return gate(request, tenant_id) or _page(state.tenant, request, lambda r: True)

    @app.post("/courseOfferings/{tenant_id}/search")
    async def search(tenant_id: str, request: Request) -> JSONResponse:
        refused = gate(request, tenant_id)
        if refused:
            return refused
        body = await _json(request)
        criteria = body.get("criteria") if isinstance(body, dict) else None
        if not isinstance(criteria, list) or not all(
                isinstance(c, dict) and c.get("operator") in _OPERATORS
                and isinstance(c.get("field"), str) for c in criteria):
            return _error(400, "criteria must be a list of {field, operator, value}; operators: "
                          + ", ".join(sorted(_OPERATORS)))

        def matches(record: dict[str, Any]) -> bool:
            for c in criteria:
                value = record.get(c["field"])
                try:
                    if value is None or not _OPERATORS[c["operator"]](value, c.get("value")):
                        return False
                except TypeError:
                    return False
            return True

        return _page(state.tenant, request, matches)

    @app.get("/courseOfferings/{tenant_id}/{offering_id}")
    def get_one(tenant_id: str, offering_id: str, request: Request) -> JSONResponse:
        refused = gate(request, tenant_id)
        if refused:
            return refused
        record = state.tenant.records.get(offering_id)
        if record is None:
            return _error(404, f"Course offering {offering_id} was not found")
        return JSONResponse(_project(record, request.query_params.get("fields")))

    @app.post("/courseOfferings/{tenant_id}")
    async def create(tenant_id: str, request: Request) -> JSONResponse:
        refused = gate(request, tenant_id)
        if refused:
            return refused
        body = await _json(request)
        if isinstance(body, dict) and body.get("id"):
            return _error(400, "An ID should not be specified when creating a new record")
        problem = _validate(body)
        if problem:
            return _error(400, problem)
        state.writes += 1
        return JSONResponse(state.tenant.insert(_clean(body)))

    @app.put("/courseOfferings/{tenant_id}/{offering_id}")
    async def replace(tenant_id: str, offering_id: str, request: Request) -> JSONResponse:
        refused = gate(request, tenant_id)
        if refused:
            return refused
        body = await _json(request)
        problem = _validate(body)
        if problem:
            return _error(400, problem)
        with state.tenant.lock:
            current = state.tenant.records.get(offering_id)
            if current is None:
                return _error(404, f"Course offering {offering_id} was not found")
            if current.get("sys_locked"):
                return _error(403, "This record is locked and cannot be changed via the API")
            version = body.get("sys_version")
            if version is not None and version != current["sys_version"]:
                return _error(409, f"Version conflict: record is at version "
                              f"{current['sys_version']}, request was for {version}")
            stored = {**_clean(body), "id": offering_id,
                      **{k: v for k, v in current.items() if k.startswith("sys_created")},
                      "sys_last_modified_at": _now(), "sys_last_modified_by_id": "api",
                      "sys_version": current["sys_version"] + 1}
            state.tenant.records[offering_id] = stored
        state.writes += 1
        return JSONResponse(stored)

    @app.delete("/courseOfferings/{tenant_id}/{offering_id}")
    def delete(tenant_id: str, offering_id: str, request: Request) -> JSONResponse:
        """Our reading: the docs list DELETE for sibling resources, not for offerings."""
        refused = gate(request, tenant_id)
        if refused:
            return refused
        with state.tenant.lock:
            gone = state.tenant.records.pop(offering_id, None)
        if gone is None:
            return _error(404, f"Course offering {offering_id} was not found")
        state.writes += 1
        return JSONResponse({"id": offering_id})

    @app.get("/_emulator/stats")
    def stats() -> dict[str, Any]:
        return {"offerings": len(state.tenant.records), "writes": state.writes,
                "tokens_issued": state.tokens_issued, "injected": state.faults.injected}

    return app


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None


def _clean(body: dict[str, Any]) -> dict[str, Any]:
    """Callers cannot set audit fields other than ``sys_external_id``."""
    return {k: v for k, v in body.items()
            if not k.startswith("sys_") or k in ("sys_external_id", "sys_locked")}


def _validate(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object"
    for key in REQUIRED:
        if body.get(key) in (None, ""):
            return f"{key} is required"
        if not isinstance(body[key], str):
            return f"{key} must be a string"
    capacity = (body.get("capacity_options") or {}).get("capacity") \
        if isinstance(body.get("capacity_options"), dict) else None
    if not isinstance(capacity, int | float) or isinstance(capacity, bool) or capacity < 0:
        return "capacity_options.capacity is required and must be a number >= 0"
    if body.get("type") is not None and body["type"] not in TYPES:
        return f"type must be one of {sorted(TYPES)}"
    for key in ("start_date", "end_date", "sell_from", "sell_until"):
        value = body.get(key)
        if value is not None and not _iso(value):
            return f"{key} must be an ISO-8601 date-time"
    address = body.get("address")
    if address is not None:
        if not isinstance(address, dict):
            return "address must be an object"
        if address.get("country") is not None and address["country"] not in ISO_3166_ALPHA2:
            return "address.country must be an ISO 3166 alpha-2 code"
    return None


def _iso(value: Any) -> bool:
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _project(record: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return record
    wanted = {f.strip() for f in fields.split(",") if f.strip()}
    return {k: v for k, v in record.items() if k in wanted}


def _page(tenant: Tenant, request: Request, keep: Any) -> JSONResponse:
    start = request.query_params.get("exclusiveStartKey")
    with tenant.lock:
        ids = list(tenant.records)
    if start:
        if start not in tenant.records:
            return _error(400, "exclusiveStartKey does not name a record")
        ids = ids[ids.index(start) + 1:]
    fields = request.query_params.get("fields")
    items: list[dict[str, Any]] = []
    last, more = None, False
    for offering_id in ids:
        record = tenant.records.get(offering_id)
        if record is None or not keep(record):
            continue
        if len(items) == PAGE_SIZE:
            more = True
            break
        items.append(_project(record, fields))
        last = offering_id
    body: dict[str, Any] = {"Count": len(items), "Items": items}
    if more:
        body["LastEvaluatedKey"] = last
    return JSONResponse(body)
