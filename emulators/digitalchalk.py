"""DigitalChalk API v5 emulator: offerings list and get, as the vendor documents them.

From developer.digitalchalk.com/document/rest-api-v5: Bearer token from the web UI (401
``{"error","error_description"}`` otherwise); ``GET /offerings`` with ``limit`` (default 15, max
100), zero-based ``offset``, filters ``createdDate``/``title``/``offeringCategoryId``/``tag``/
``studentId`` (alias ``userId``); answers ``{results, next, prev}`` with ``next`` only while a
further page exists (or a bare array, as the Get-offerings example shows, by setting); fields
with no value are omitted; errors are ``{"fieldErrors": {...}}`` or ``{"errors": [...]}``;
writes to offerings do not exist (405). The catalog is generated lazily from a seed, so a
million offerings cost no memory.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse as _JSONResponse

from offering_sync.emulators.faults import FaultInjector, Faults, install_faults

__all__ = ["Catalog", "create_app"]


class JSONResponse(_JSONResponse):
    """JSON with every non-ASCII character escaped, as the vendor's Java stack writes it."""

    def render(self, content: Any) -> bytes:
        """Escape everything outside ASCII, so even a lone surrogate is valid JSON text."""
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")

DEFAULT_TOKEN = "dc-demo-token"  # noqa: S105 - the emulator's published demo token
DEFAULT_LIMIT, MAX_LIMIT = 15, 100
_WORDS = ["Appraisal", "Ethics", "Safety", "Leadership", "Data", "Nursing", "Finance",
          "Écologie", "Gestión", "Datenschutz", "Kommunikation", "Negotiation", "Care"]
_TAGS = ["commercial", "appraisal", "realestate", "online", "ce", "sample", "core"]
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Catalog:
    """Offerings ``0..count-1`` generated from ``seed``, plus edits and added records."""

    def __init__(self, count: int = 0, seed: int = 1) -> None:
        self.count, self.seed = count, seed
        self.edits: dict[str, dict[str, Any]] = {}
        self.added: list[dict[str, Any]] = []
        self.malformed_rate = 0.0
        self.lock = threading.Lock()

    def offering_id(self, index: int) -> str:
        """The 32-hex id of generated offering ``index``."""
        return hashlib.blake2b(f"{self.seed}:{index}".encode(), digest_size=16).hexdigest()

    def generate(self, index: int) -> dict[str, Any]:
        """Generated offering ``index`` (before edits); optional fields are sometimes omitted."""
        rng = random.Random(self.seed * 1_000_003 + index)
        created = _EPOCH + timedelta(minutes=index * 7)
        begin = datetime(2025 + rng.randrange(2), rng.randrange(1, 13), rng.randrange(1, 28),
                         rng.choice([0, 8, 13, 14]), tzinfo=UTC)
        record: dict[str, Any] = {
            "id": self.offering_id(index),
            "title": f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {index}",
            "createdDate": _fmt(created),
            "beginDate": _fmt(begin),
        }
        if rng.random() < 0.8:
            record["endDate"] = _fmt(begin + timedelta(days=rng.randrange(1, 200)))
        if rng.random() < 0.6:
            record["registrationBeginDate"] = _fmt(begin - timedelta(days=30))
            record["registrationEndDate"] = _fmt(begin)
        if rng.random() < 0.7:
            record["catalogDescription"] = f"Catalog description for offering {index}"
        if rng.random() < 0.3:
            record["deliveryDescription"] = "Delivered online, self-paced."
        if rng.random() < 0.8:
            record["price"] = float(rng.randrange(0, 90_000)) / 100
            record["currencyCode"] = rng.choice(["USD", "USD", "EUR", "GBP", "CAD"])
        if rng.random() < 0.5:
            record["offeringCategoryIds"] = [self.offering_id(10_000_000 + rng.randrange(20))]
        if rng.random() < 0.6:
            record["tags"] = rng.sample(_TAGS, rng.randrange(1, 4))
        record["orderIndex"] = index
        if self.malformed_rate and rng.random() < self.malformed_rate:
            _break(record, rng)
        return record

    def total(self) -> int:
        """How many offerings there are."""
        return self.count + len(self.added)

    def get(self, index: int) -> dict[str, Any]:
        """Offering at position ``index`` with edits applied."""
        if index < self.count:
            record = self.generate(index)
        else:
            record = dict(self.added[index - self.count])
        edit = self.edits.get(record["id"])
        if edit:
            record.update(edit)
            record = {k: v for k, v in record.items() if v is not None}
        return record

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for index in range(self.total()):
            yield self.get(index)

    def find(self, offering_id: str) -> dict[str, Any] | None:
        """One offering by id (a scan: fine for an emulator)."""
        return next((r for r in self if r["id"] == offering_id), None)

    def edit(self, offering_id: str, changes: dict[str, Any]) -> None:
        """Change fields of an offering (``None`` removes a field)."""
        with self.lock:
            self.edits.setdefault(offering_id, {}).update(changes)

    def add(self, records: list[dict[str, Any]]) -> None:
        """Append offerings given as the vendor would return them."""
        with self.lock:
            self.added.extend(dict(r) for r in records)


def _break(record: dict[str, Any], rng: random.Random) -> None:
    """Make a record malformed in one of the ways a real feed goes wrong."""
    kind = rng.randrange(6)
    if kind == 0:
        record.pop("title")
    elif kind == 1:
        record["beginDate"] = "2013-02-30T00:00:00Z"
    elif kind == 2:
        record["price"] = "free"
    elif kind == 3:
        record["title"] = "x" * 100_000
    elif kind == 4:
        record["currencyCode"] = "DOLLARS"
    else:
        record["title"] = "bad \udcff escape"


def create_app(catalog: Catalog | None = None, *, token: str = DEFAULT_TOKEN,
               base_path: str = "/dc/api/v5", envelope: bool = True,
               faults: Faults | None = None) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.catalog`` is the data, for tests and the demo."""
    app = FastAPI(title="DigitalChalk v5 emulator", openapi_url=None, docs_url=None)
    app.state.catalog = catalog or Catalog()
    app.state.requests = 0
    faults = faults or Faults()
    app.state.catalog.malformed_rate = faults.malformed_rate
    injector = install_faults(
        app, faults, lambda status, msg: {"errors": [msg]},
        on_change=lambda new: setattr(app.state.catalog, "malformed_rate", new.malformed_rate))
    app.state.faults = injector

    def authorized(request: Request) -> JSONResponse | None:
        app.state.requests += 1
        header = request.headers.get("authorization", "")
        if header != f"Bearer {token}":
            return JSONResponse({"error": "invalid_token", "error_description":
                                 "Invalid access token"}, status_code=401)
        return None

    @app.get(base_path + "/offerings")
    def list_offerings(request: Request) -> Any:
        denied = authorized(request)
        if denied:
            return denied
        query = request.query_params
        errors: dict[str, str] = {}
        limit = _int_param(query.get("limit"), DEFAULT_LIMIT, "limit", errors)
        offset = _int_param(query.get("offset"), 0, "offset", errors)
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            errors["limit"] = f"The maximum valid limit value is {MAX_LIMIT}."
        if offset is not None and offset < 0:
            errors["offset"] = "Offset must be zero or greater."
        window = _created_window(query.get("createdDate"), errors)
        if errors:
            return JSONResponse({"fieldErrors": errors}, status_code=400)
        assert limit is not None and offset is not None
        results, more = _select(app.state.catalog, query, window, offset, limit)
        if not envelope:
            return JSONResponse(results)
        body: dict[str, Any] = {"results": results}
        if more:
            body["next"] = _link(request, offset + limit, limit)
        if offset > 0:
            body["prev"] = _link(request, max(0, offset - limit), limit)
        return JSONResponse(body)

    @app.get(base_path + "/offerings/{offering_id}")
    def get_offering(offering_id: str, request: Request) -> Any:
        denied = authorized(request)
        if denied:
            return denied
        record = app.state.catalog.find(offering_id)
        if record is None:
            return JSONResponse({"errors": [f"No offering found with id {offering_id}"]},
                                status_code=404)
        return JSONResponse(record)

    @app.api_route(base_path + "/offerings", methods=["POST", "PUT", "DELETE", "PATCH"])
    @app.api_route(base_path + "/offerings/{offering_id}", methods=["POST", "PUT", "DELETE",
                                                                   "PATCH"])
    def no_writes(request: Request) -> Any:
        denied = authorized(request)
        return denied or JSONResponse({"errors": ["Method not allowed for offerings"]},
                                      status_code=405)

    _admin_routes(app, injector)
    return app


def _admin_routes(app: FastAPI, injector: FaultInjector) -> None:
    @app.get("/_emulator/stats")
    def stats() -> dict[str, Any]:
        return {"requests": app.state.requests, "offerings": app.state.catalog.total(),
                "injected": injector.injected}

    @app.post("/_emulator/offerings")
    def add(records: list[dict[str, Any]]) -> dict[str, int]:
        app.state.catalog.add(records)
        return {"offerings": app.state.catalog.total()}

    @app.post("/_emulator/generate")
    def generate(body: dict[str, int]) -> dict[str, int]:
        app.state.catalog.count = int(body.get("count", 0))
        app.state.catalog.seed = int(body.get("seed", app.state.catalog.seed))
        return {"offerings": app.state.catalog.total()}

    @app.patch("/_emulator/offerings/{offering_id}")
    def edit(offering_id: str, changes: dict[str, Any]) -> dict[str, str]:
        app.state.catalog.edit(offering_id, changes)
        return {"id": offering_id}


def _int_param(raw: str | None, default: int, name: str, errors: dict[str, str]) -> int | None:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        errors[name] = "Must be a whole number."
        return None


def _parse_when(text: str) -> tuple[datetime, datetime] | None:
    """A precise timestamp (exact), or ``YYYY``/``YYYY-MM``/``YYYY-MM-DD`` (the whole period)."""
    text = text.strip()
    try:
        if len(text) == 4:
            start = datetime(int(text), 1, 1, tzinfo=UTC)
            return start, _plus(start, timedelta(days=366)).replace(month=1, day=1) \
                if start.year < 9999 else datetime.max.replace(tzinfo=UTC)
        if len(text) == 7:
            year, month = int(text[:4]), int(text[5:7])
            start = datetime(year, month, 1, tzinfo=UTC)
            if (year, month) == (9999, 12):
                return start, datetime.max.replace(tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return start, end
        if len(text) == 10:
            start = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return start, _plus(start, timedelta(days=1))
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment, _plus(moment, timedelta(seconds=1))
    except (ValueError, OverflowError):
        return None


def _plus(moment: datetime, step: timedelta) -> datetime:
    """``moment + step``, stopping at the end of time (an open range ends 9999-12-31)."""
    try:
        return moment + step
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _created_window(raw: str | None, errors: dict[str, str]) -> tuple[datetime, datetime] | None:
    if not raw:
        return None
    parts = raw.split(",")
    if len(parts) == 1:
        window = _parse_when(parts[0])
    elif len(parts) == 2:  # "start,end", both inclusive (our reading of Date Filtering)
        first, last = _parse_when(parts[0]), _parse_when(parts[1])
        window = (first[0], last[1]) if first and last else None
    else:
        window = None
    if window is None:
        errors["createdDate"] = "Invalid date filter."
    return window


def _matches(record: dict[str, Any], query: Any, window: tuple[datetime, datetime] | None,
             ) -> bool:
    if window is not None:
        created = record.get("createdDate")
        try:
            moment = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            return False
        if not window[0] <= moment < window[1]:
            return False
    title = query.get("title")
    if title and title.lower() not in str(record.get("title", "")).lower():
        return False
    category = query.get("offeringCategoryId")
    if category and category not in record.get("offeringCategoryIds", []):
        return False
    tags = query.get("tag")
    if tags:
        wanted = [t for t in tags.replace(",", " ").split() if t]
        if not all(t in record.get("tags", []) for t in wanted):
            return False
    return True


def _select(catalog: Catalog, query: Any, window: tuple[datetime, datetime] | None,
            offset: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    filtered = window is not None or any(query.get(k) for k in ("title", "offeringCategoryId",
                                                                "tag"))
    if not filtered:
        total = catalog.total()
        rows = [catalog.get(i) for i in range(offset, min(offset + limit, total))]
        return rows, offset + limit < total
    rows, seen = [], 0
    for record in catalog:
        if not _matches(record, query, window):
            continue
        if seen >= offset + limit:
            return rows, True
        if seen >= offset:
            rows.append(record)
        seen += 1
    return rows, False


def _link(request: Request, offset: int, limit: int) -> str:
    params = dict(request.query_params)
    params.update(offset=str(offset), limit=str(limit))
    return str(request.url.replace_query_params(**params))

