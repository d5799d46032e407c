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
405 (none are documented); the ``createdDate`` range form ``start,end``. The catalog is generated
lazily from a seed, so a million offerings cost no memory.
"""

from __future__ import annotations

import hashlib
import random
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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

__all__ = ["DEFAULT_TOKEN", "Catalog", "Listing", "create_app", "router"]

Listing = Literal["envelope", "array"]

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
    window = _created_window(created_date, errors)
    if errors:
        raise VendorError(400, "Invalid parameters", body={"fieldErrors": errors})
    state = request.app.state
    config: Config = state.config
    filters = {"title": title, "offeringCategoryId": offering_category_id, "tag": tag}
    results, more = _select(state.catalog, filters, window, offset, limit)
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
            "injected": state.faults.injected}


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


def _matches(record: dict[str, Any], query: dict[str, str | None],
             window: tuple[datetime, datetime] | None) -> bool:
    if window is not None:
        created = record.get("createdDate")
        try:
            moment = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
        except ValueError:
            return False
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
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


def _select(catalog: Catalog, query: dict[str, str | None],
            window: tuple[datetime, datetime] | None, offset: int, limit: int,
            ) -> tuple[list[dict[str, Any]], bool]:
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

