"""The seam's vocabulary shared by the core and every connector: Raw, Page, LoadResult.

Kept in the core so that ``offering_sync`` never imports ``connectors``; ``connectors.base``
re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

__all__ = ["Conflict", "LoadResult", "Page", "Raw", "Source", "Target"]

Raw = Mapping[str, Any]
"""One vendor record, as the vendor sent it (or as we will send it)."""

Conflict = Literal["exists", "missing"]
"""Why an upsert was refused for the record's identity, so the engine may flip `overwrite`."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page of source records and where to resume after it."""

    records: Sequence[Raw]
    checkpoint: str | None = None
    bad: Sequence[tuple[str | None, str, str]] = field(default_factory=tuple)
    """Records the source could not even decode: (source id or None, reason, raw text)."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the target said about one record of a batch; one per input, in input order."""

    key: str
    ok: bool
    target_id: str | None = None
    errors: tuple[tuple[str | None, str], ...] = ()
    conflict: Conflict | None = None

    @property
    def message(self) -> str:
        """All errors as one line, fields first."""
        return "; ".join(f"{f}: {m}" if f else m for f, m in self.errors) or "rejected"


class Source(Protocol):
    """Streams a system's offerings page by page."""

    system: str
    id_field: str
    """Where a raw record keeps its id, to name records that fail before mapping."""
    supports_modified_since: bool

    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Yield pages; never hold the whole source."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class Target(Protocol):
    """Writes offerings to a system, one result per input record."""

    system: str
    max_batch: int

    def upsert(self, batch: Sequence[Raw], *, overwrite: bool,
               target_ids: Sequence[str | None] | None = None) -> list[LoadResult]:
        """Create (``overwrite=False``) or update (``True``) a batch of target payloads.

        ``target_ids`` are the target's own ids of the records, where known (updates), for APIs
        that address a record by id rather than by external ID.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
