"""What a run is given and what it reports: plain data for the engine, the CLI and the flows.

``Pipeline``, ``SyncOptions`` in; ``Counts``, ``RunSummary`` out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Literal

from offering_sync.errors import ConfigError
from offering_sync.mapping import CompiledMapping
from offering_sync.records import ConflictPolicy, Source, Target, WritePolicy

__all__ = ["Counts", "DeletePolicy", "Pipeline", "RunSummary", "SyncOptions"]

DeletePolicy = Literal["report", "deactivate", "delete"]


@dataclass
class Counts:
    """Per-run totals.

    ``extracted == created + updated + adopted + unchanged + skipped + failed`` at the end;
    ``conflicts``, ``retried`` and ``still_failing`` (skipped because an earlier failure
    stands: same content, backing off or parked) say more about some of those records, and
    ``missing_in_source``/``deactivated``/``deleted`` about linked records the source no
    longer lists.
    """

    extracted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    adopted: int = 0
    skipped: int = 0
    conflicts: int = 0
    retried: int = 0
    missing_in_source: int = 0
    deactivated: int = 0
    deleted: int = 0
    still_failing: int = 0
    source_total: int | None = field(default=None, compare=False)
    """The source's own count of its listing, when it gives one (progress, not a total)."""

    def as_dict(self) -> dict[str, int]:
        """The totals as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "source_total"}

    def add(self, name: str, amount: int = 1) -> None:
        """Add to one total."""
        setattr(self, name, getattr(self, name) + amount)


@dataclass(frozen=True)
class Pipeline:
    """One source, one target and the two mappings that join them through ``Offering``."""

    source: Source
    target: Target
    to_canonical: CompiledMapping
    to_target: CompiledMapping

    @property
    def name(self) -> str:
        """``source->target``: the key of locks, cursors and dead letters."""
        return f"{self.source.system}->{self.target.system}"

    @cached_property
    def digest(self) -> str:
        """Changes whenever either mapping (or what it reads) changes.

        Computed once: a run asks for it in every record's change marker.
        """
        text = f"{self.to_canonical.digest}|{self.to_target.digest}"
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True)
class SyncOptions:
    """What kind of run this is, and the rules it follows."""

    full_refresh: bool = False
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False
    mode: str = "incremental"
    lock_ttl_seconds: float = 300.0
    max_failure_ratio: float = 1.0  # callers pass the setting; the engine alone never fails a run
    on_conflict: ConflictPolicy = "source-wins"
    on_delete: DeletePolicy = "report"
    max_delete_ratio: float = 0.1
    allow_mass_delete: bool = False
    max_attempts: int = 10
    log_retention_days: float = 90.0
    systemic_after: int = 25
    """Stop when the first this-many records all fail with the same reason."""

    def __post_init__(self) -> None:
        since, until = _utc(self.since), _utc(self.until)
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "until", until)
        if since and until and until < since:
            raise ConfigError(f"--until {until:%Y-%m-%dT%H:%M:%SZ} is before --since "
                              f"{since:%Y-%m-%dT%H:%M:%SZ}: the window would hold nothing")
        if self.max_attempts < 1:
            raise ConfigError("max_attempts must be at least 1")

    def write_policy(self, pipeline: Pipeline) -> WritePolicy:
        """The target's write rules: the mapping's field ownership and this run's conflict rule."""
        return WritePolicy(ownership=dict(pipeline.to_target.ownership),  # type: ignore[arg-type]
                           on_conflict=self.on_conflict)


def _utc(moment: datetime | None) -> datetime | None:
    """Naive instants are read as UTC, so mixed inputs compare instead of raising TypeError."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass
class RunSummary:
    """What a run did, for the CLI, the flow's artifacts and the exit status."""

    run_id: str
    pipeline: str
    status: str
    counts: Counts
    dry_run: bool
    seconds: float
    batches: int = 0
    api_calls: int = 0
    message: str | None = None
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Extra facts for the summary, e.g. tokens minted today."""

    @property
    def ok(self) -> bool:
        """True when every extracted record was loaded, unchanged or deliberately skipped.

        A record skipped because its earlier failure stands is not loaded: not ok.
        """
        return (self.status == "succeeded" and self.counts.failed == 0
                and self.counts.still_failing == 0)

    @property
    def rate(self) -> float:
        """Records extracted per second."""
        return self.counts.extracted / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (the CLI's ``--json``)."""
        return {"run_id": self.run_id, "pipeline": self.pipeline, "status": self.status,
                "dry_run": self.dry_run, **self.counts.as_dict(), "batches": self.batches,
                "seconds": round(self.seconds, 3), "records_per_second": round(self.rate, 1),
                "message": self.message, **self.details}
