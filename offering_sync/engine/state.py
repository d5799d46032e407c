"""The mutable state of one run, shared by the engine's parts, and the per-record helpers.

``RunState`` is the one place every part of a run (extract and plan, load, retire) reads and
writes: counts under a lock (the loader thread updates them too), pending batches, the run id
and number, and how to record a failure as a dead letter that later runs retry with backoff.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import orjson

from offering_sync.diff import content_hash
from offering_sync.engine.options import Counts, Pipeline, SyncOptions
from offering_sync.records import Raw, WritePolicy
from offering_sync.state import DeadLetter, LogEntry, StateStore

__all__ = ["BatchRunner", "Item", "RunState", "dump", "storable"]

T = TypeVar("T")
BatchRunner = Callable[[str, Callable[[], T]], T]
_PAYLOAD_CHARS = 200_000
_ID_CHARS = 255
_MAX_BACKOFF_RUNS = 32


@dataclass(slots=True)
class Item:
    """One record on its way to the target."""

    source_id: str
    external_id: str
    payload: dict[str, Any]
    digest: str
    raw: Raw
    source_version: str | None = None
    target_id: str | None = None
    written_hash: str | None = None
    target_version: str | None = None
    revive: bool = False
    defaulted: tuple[str, ...] = ()
    """Payload fields holding the target mapping's default: set on create only."""
    text: str | None = None
    """The payload's canonical JSON, kept from hashing it: the sync log stores this text."""


class RunState:
    """Everything one run knows while it works."""

    def __init__(self, pipeline: Pipeline, store: StateStore, options: SyncOptions,
                 run_batch: BatchRunner[Any],
                 logger: logging.Logger | logging.LoggerAdapter[Any],
                 run_group: BatchRunner[Any] | None = None) -> None:
        self.p, self.store, self.opt = pipeline, store, options
        self.run_batch, self.log = run_batch, logger
        self.run_group: BatchRunner[Any] = run_group or _direct
        self.counts = Counts()
        self.lock = threading.Lock()
        self.pending: dict[bool, dict[str, Item]] = {False: {}, True: {}}
        self.batches = 0
        self.run_id = ""
        self.run_number = 0
        self.watermark: datetime | None = None
        self.policy: WritePolicy = options.write_policy(pipeline)
        self.failure_reasons: dict[tuple[str, str | None, str], list[Any]] = {}
        self.has_dead_letters = True  # until the run counted them

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.p.name

    def may_resolve(self) -> bool:
        """Whether a loaded record may have an open dead letter to resolve (else skip that)."""
        with self.lock:
            return self.has_dead_letters or self.counts.failed > 0

    def add(self, name: str, amount: int = 1) -> None:
        """Add to a total, safely across threads."""
        with self.lock:
            self.counts.add(name, amount)

    def totals(self) -> dict[str, int]:
        """A consistent copy of the totals."""
        with self.lock:
            return self.counts.as_dict()

    def failure(self, stage: str, source_id: str | None, external_id: str | None,
                field: str | None, error: str, raw: Any, *, previous: DeadLetter | None,
                raw_hash: str | None = None) -> dict[str, Any]:
        """A dead letter, retried by later runs and parked for a human after ``max_attempts``.

        It is due again on the next two runs, then after 2, 4, 8 … runs (capped at 32).
        """
        attempts = (previous.attempts + 1) if previous is not None else 1
        parked = attempts >= self.opt.max_attempts
        backoff = min(2 ** max(attempts - 2, 0), _MAX_BACKOFF_RUNS)
        self._note(stage, field, error, source_id)
        self.log.debug("dead letter (%s): %s", stage, error)
        return {"stage": stage, "source_id": storable(source_id, _ID_CHARS),
                "external_id": storable(external_id, _ID_CHARS),
                "field": storable(field, _ID_CHARS), "error": storable(error) or "",
                "payload": dump(raw) if raw is not None else None,
                "attempts": attempts, "retry_at_run": self.run_number + backoff,
                "raw_hash": raw_hash, "parked": parked}

    def _note(self, stage: str, field: str | None, error: str, source_id: str | None) -> None:
        """Group failures by stage, field and reason pattern for the end-of-run summary."""
        pattern = _pattern(error, source_id)
        with self.lock:
            entry = self.failure_reasons.setdefault((stage, field, pattern), [0, source_id])
            entry[0] += 1

    def grouped_failures(self) -> list[dict[str, Any]]:
        """Failures of this run by (stage, field, reason), largest group first."""
        with self.lock:
            rows = [{"stage": stage, "field": field, "reason": pattern, "count": count,
                     "example": example}
                    for (stage, field, pattern), (count, example) in self.failure_reasons.items()]
        return sorted(rows, key=lambda r: -int(r["count"]))

    def record_failures(self, failures: Sequence[dict[str, Any]]) -> None:
        """Write dead letters that belong to no batch (extract, map and validate failures)."""
        if not failures or self.opt.dry_run:
            return
        log = [LogEntry(f.get("source_id"), f.get("external_id"), None, "fail", "failed",
                        error=f["error"]) for f in failures]
        self.store.record_batch(run_id=self.run_id, pipeline=self.name,
                                source=self.p.source.system, target=self.p.target.system,
                                loaded=(), failed=failures, counts=self.totals(), log=log)


def _direct(_label: str, step: Callable[[], T]) -> T:
    return step()


def _pattern(error: str, source_id: str | None) -> str:
    """The reason without the record's own id or values, so alike failures group together."""
    text = error
    if source_id:
        text = text.replace(f"record {source_id}: ", "").replace(source_id, "…")
    return text.split(" (value: ", 1)[0][:200]


def storable(text: str | None, limit: int | None = None) -> str | None:
    """Text any database accepts: no NUL, no lone surrogates, at most ``limit`` characters."""
    if text is None:
        return None
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    if limit is not None and len(clean) > limit:
        clean = clean[:limit - 1] + "…"
    return clean


def dump(raw: Any) -> str:
    """A record as JSON text for a dead letter (ASCII: survives invalid Unicode)."""
    text = json.dumps(raw, default=str)
    return text if len(text) <= _PAYLOAD_CHARS else text[:_PAYLOAD_CHARS]


def raw_hash(raw: Any) -> str:
    """The hash of a source record as read, to notice when a failed record changed."""
    return content_hash(raw)


_MARKER_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def record_marker(raw: Any) -> str | None:
    """A hash of a source record as read, its change marker when the source has none.

    Only ever compared with markers made by this function, so it need not match
    ``raw_hash``'s text: orjson's C encoder makes it about 4× cheaper, on every record of every
    run. A record orjson cannot encode falls back to ``raw_hash``; one neither can (keys of
    mixed types) has no marker, so it is always mapped.
    """
    try:
        text = orjson.dumps(raw, option=_MARKER_OPTIONS, default=str)
    except (TypeError, orjson.JSONEncodeError):
        try:
            return raw_hash(raw)
        except (TypeError, ValueError):
            return None
    return hashlib.blake2b(text, digest_size=16).hexdigest()
