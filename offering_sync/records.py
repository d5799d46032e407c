"""The seam's vocabulary shared by the core and every connector.

Sources yield ``Page``s of raw records. Targets receive ``WriteRequest``s (the payload plus what
the state store remembers about the record in that target) with a ``WritePolicy`` (which fields
the mapping owns, what to do when the target changed since our last write) and answer one
``LoadResult`` per request, in order. Kept in the core so that ``offering_sync`` never imports
``connectors``; ``offering_sync.connectors.base`` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Action", "Conflict", "ConflictPolicy", "CreateIntent", "FieldOwnership", "LoadResult",
           "Page", "Raw", "RecordReader", "Retirer", "Source", "Target", "TargetPlanner", "WritePolicy",
           "WriteRequest"]

Raw = Mapping[str, Any]
"""One vendor record, as the vendor sent it (or as we will send it)."""

Conflict = Literal["exists", "missing", "changed"]
"""Why a write met the record's identity or state: ``exists``/``missing`` (the engine flips
``overwrite``), or ``changed``: the target was edited since our last write."""

Action = Literal["created", "updated", "adopted", "skipped", "deactivated", "deleted",
                 "would_create", "would_update"]
"""What the target really did (a PUT is never "created")."""

FieldOwnership = Literal["overwrite", "keep", "merge"]
ConflictPolicy = Literal["source-wins", "target-wins", "dead-letter"]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of source records and where to resume after it."""

    records: Sequence[Raw]
    checkpoint: str | None = None
    bad: Sequence[tuple[str | None, str, str]] = field(default_factory=tuple)
    """Records the source could not even decode: (source id or None, reason, raw text)."""
    total: int | None = None
    """The source's own count of the whole listing, when it gives one (for progress)."""


@dataclass(frozen=True, slots=True)
class WritePolicy:
    """How a target may write: the fields the mapping owns and the conflict rule.

    Fields not named in ``ownership`` belong to the target and must survive every update.
    ``keep`` fields are written on create only; ``merge`` lists keep the target's items and
    add ours; ``overwrite`` fields are ours, except where a request's value is only the
    mapping's default (``WriteRequest.defaulted``): that is treated as ``keep``.
    """

    ownership: Mapping[str, FieldOwnership] = field(default_factory=dict)
    on_conflict: ConflictPolicy = "source-wins"

    @property
    def merges(self) -> bool:
        """Whether an update merges lists, and so needs what we last wrote of each record."""
        return "merge" in self.ownership.values()


@dataclass(frozen=True, slots=True)
class CreateIntent:
    """A create an interrupted run of ours may have made: what it would look like."""

    fingerprint: Mapping[str, Any]
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One record to write, with what we remember of it in this target."""

    key: str
    """Our external ID."""
    payload: Mapping[str, Any]
    target_id: str | None = None
    written_hash: str | None = None
    """Hash of what we last wrote (None: never confirmed)."""
    target_version: str | None = None
    """The target's version or modification time right after our last write."""
    intent: CreateIntent | None = None
    """Set when an earlier run recorded a create intent for this key and never its outcome."""
    revive: bool = False
    """We deactivated this record when it left the source; it is back, so make it active."""
    previous: Mapping[str, Any] | None = None
    """What we last wrote, where a ``merge`` field needs it: our old list items that we no
    longer send are taken out, the target's own stay."""
    defaulted: tuple[str, ...] = ()
    """Payload fields holding the mapping's ``default`` (the source had no value): written on
    create, and on update only where the target has no value of its own."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What the target said about one record of a batch; one per input, in input order."""

    key: str
    ok: bool
    target_id: str | None = None
    errors: tuple[tuple[str | None, str], ...] = ()
    conflict: Conflict | None = None
    action: Action | None = None
    """What happened; None means the engine infers created/updated from ``overwrite``."""
    target_version: str | None = None
    """The target's version after this write (for conflict detection next time)."""
    sent: Mapping[str, Any] | None = None
    """The body really sent, when it differs from the payload (field ownership overlay)."""

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
    upsert_key: bool
    """True when the target itself matches records by our external ID (an idempotent upsert);
    False when the link table is the identity (the engine records create intents)."""

    def upsert(self, batch: Sequence[WriteRequest], *, overwrite: bool,
               policy: WritePolicy) -> list[LoadResult]:
        """Create (``overwrite=False``) or update (``True``) a batch of records.

        Raises only when the whole request failed (``ConnectorError``).
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class TargetPlanner(Protocol):
    """A target that can say, read-only, what a write would do (``--dry-run``)."""

    def plan(self, batch: Sequence[WriteRequest]) -> list[LoadResult]:
        """``would_create`` / ``would_update`` per request, without writing."""
        ...


@runtime_checkable
class Retirer(Protocol):
    """A target that can deactivate or delete records gone from the source."""

    retire_modes: tuple[str, ...]

    def retire(self, batch: Sequence[WriteRequest], *, how: str,
               policy: WritePolicy) -> list[LoadResult]:
        """Deactivate (``how="deactivate"``) or delete each record; one result each."""
        ...


@runtime_checkable
class RecordReader(Protocol):
    """A source that can re-read given records by id (to retry failed ones)."""

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Pages holding the records that still exist; absent ids are simply not yielded."""
        ...
