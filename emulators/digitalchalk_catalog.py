"""The DigitalChalk emulator's data, and the documented filters over it (seed 004).

``Catalog`` makes offering ``i`` from ``(seed, i)`` on demand, so a million offerings cost no
memory; edits and added records sit on top. ``created_window`` reads the ``createdDate`` filter:
a precise timestamp, ``YYYY``/``YYYY-MM``/``YYYY-MM-DD`` for the whole period, or ``start,end``
(our reading: the Date Filtering page was not found).
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Catalog", "created_window", "select"]

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


def created_window(raw: str | None, errors: dict[str, str]) -> tuple[datetime, datetime] | None:
    """The ``createdDate`` filter as ``[start, end)``; a bad one goes into ``errors``."""
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


def select(catalog: Catalog, query: dict[str, str | None],
            window: tuple[datetime, datetime] | None, offset: int, limit: int,
            ) -> tuple[list[dict[str, Any]], bool]:
    """Up to ``limit`` matching offerings from ``offset``, and whether more match."""
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
