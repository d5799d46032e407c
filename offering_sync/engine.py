"""The sync engine: extract → map → validate → diff → map to target → load → record, per batch.

Plain Python with no Prefect in it. The caller may pass ``run_batch`` to wrap each batch (the
flow makes each one a Prefect task) and ``progress`` to watch. Memory holds one page plus the
batches being filled, whatever the source's size. A batch's links, dead letters and the run's
totals are committed together after the target answered, so a killed run resumes by simply
running again: loaded records are "unchanged", the rest are loaded, nothing twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from offering_sync.diff import content_hash, plan_action
from offering_sync.errors import (
    InvalidRecord,
    LockHeld,
    QuotaExhausted,
    Rejected,
    SyncError,
)
from offering_sync.mapping import CompiledMapping
from offering_sync.model import Offering, validate_offering
from offering_sync.pipelining import Behind, read_ahead
from offering_sync.records import LoadResult, Page, Raw, Source, Target
from offering_sync.state import Link, StateStore

__all__ = ["Counts", "Pipeline", "RunSummary", "SyncOptions", "sync_pipeline"]

T = TypeVar("T")
BatchRunner = Callable[[str, Callable[[], T]], T]
log = logging.getLogger("offering_sync.engine")
_WATERMARK = "modified_since"
_PAYLOAD_CHARS = 200_000
_HEARTBEAT_SECONDS = 5.0


@dataclass
class Counts:
    """Per-run totals; ``extracted == created + updated + unchanged + failed`` at the end."""

    extracted: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The totals as a plain dict."""
        return asdict(self)


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


@dataclass(frozen=True)
class SyncOptions:
    """What kind of run this is."""

    full_refresh: bool = False
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False
    mode: str = "incremental"
    lock_ttl_seconds: float = 300.0
    max_failure_ratio: float = 1.0  # callers pass the setting; the engine alone never fails a run


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

    @property
    def ok(self) -> bool:
        """True when every extracted record was loaded or unchanged."""
        return self.status == "succeeded" and self.counts.failed == 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view (the CLI's ``--json``)."""
        return {"run_id": self.run_id, "pipeline": self.pipeline, "status": self.status,
                "dry_run": self.dry_run, **self.counts.as_dict(), "batches": self.batches,
                "seconds": round(self.seconds, 3), "message": self.message}


@dataclass(slots=True)
class _Item:
    source_id: str
    external_id: str
    payload: dict[str, Any]
    digest: str
    raw: Raw
    target_id: str | None = None


def _direct(_label: str, step: Callable[[], T]) -> T:
    return step()


def sync_pipeline(pipeline: Pipeline, store: StateStore, options: SyncOptions | None = None, *,
                  run_batch: BatchRunner[Any] = _direct,
                  progress: Callable[[Counts], None] | None = None,
                  records: Iterable[Page] | None = None,
                  logger: logging.Logger | logging.LoggerAdapter[Any] | None = None) -> RunSummary:
    """Run one sync of ``pipeline`` and return its summary.

    ``records`` replaces the source's pages (used to retry dead letters).

    Raises:
        LockHeld: another live run of the same pipeline holds the lock.
        ConnectorError: the source or target failed as a whole (after retries).
    """
    options = options or SyncOptions()
    run = _Run(pipeline, store, options, run_batch, progress, logger or log)
    return run.execute(records)


class _Run:
    """The state of one run; ``execute`` is the whole algorithm, top to bottom."""

    def __init__(self, pipeline: Pipeline, store: StateStore, options: SyncOptions,
                 run_batch: BatchRunner[Any], progress: Callable[[Counts], None] | None,
                 logger: logging.Logger | logging.LoggerAdapter[Any]) -> None:
        self.p, self.store, self.opt = pipeline, store, options
        self.run_batch, self.progress, self.log = run_batch, progress, logger
        self.counts = Counts()
        self.batches = 0
        self.pending: dict[bool, dict[str, _Item]] = {False: {}, True: {}}
        self.watermark: datetime | None = None
        self.run_id = ""
        self.loads = Behind()
        self.lock = threading.Lock()  # counts are updated by the loader thread too
        self.beat_at = 0.0

    def execute(self, records: Iterable[Page] | None) -> RunSummary:
        started = time.perf_counter()
        mode = "dry-run" if self.opt.dry_run else self.opt.mode
        params = {"full_refresh": self.opt.full_refresh, "since": self.opt.since,
                  "until": self.opt.until, "dry_run": self.opt.dry_run}
        self.run_id = self.store.start_run(self.p.name, self.p.source.system,
                                           self.p.target.system, mode, params)
        try:
            replaced = self.store.acquire_lock(self.p.name, self.run_id,
                                               ttl_seconds=self.opt.lock_ttl_seconds)
        except LockHeld as exc:
            self.store.finish_run(self.run_id, "refused", self.counts.as_dict(), str(exc))
            raise
        if replaced:
            self.log.warning("recovered the lock of run %s, which died; resuming its work",
                             replaced)
        status, message = "succeeded", None
        try:
            pages = records if records is not None else read_ahead(self._pages())
            for number, page in enumerate(pages, start=1):
                self._take_page(number, page)
            self._flush_all()
            self.loads.wait()
            self._advance_watermark()
        except QuotaExhausted as exc:
            status, message = "stopped", str(exc)
            self._fail_pending(str(exc))
            self.log.warning("%s", exc)
        except BaseException as exc:  # recorded as failed, then raised unchanged
            status = "failed"
            message = str(exc) if isinstance(exc, SyncError) else \
                f"{exc.__class__.__name__}: {exc}"
            self.loads.close()
            self.store.finish_run(self.run_id, status, self.counts.as_dict(), message)
            self.store.release_lock(self.p.name, self.run_id)
            raise
        finally:
            self.loads.close()
            if status != "failed":
                status = self._final_status(status)
                self.store.finish_run(self.run_id, status, self.counts.as_dict(), message)
                self.store.release_lock(self.p.name, self.run_id)
        return RunSummary(self.run_id, self.p.name, status, self.counts, self.opt.dry_run,
                          time.perf_counter() - started, self.batches, message=message,
                          dead_letters=self._dead_letter_rows())

    # -- extract and plan -----------------------------------------------------------------------

    def _pages(self) -> Iterable[Page]:
        since = self.opt.since
        if since is None and not self.opt.full_refresh and self.p.source.supports_modified_since:
            stored = self.store.get_cursor(self.p.name, _WATERMARK)
            since = datetime.fromisoformat(stored) if stored else None
        return self.p.source.pages(since=since, until=self.opt.until)

    def _take_page(self, number: int, page: Page) -> None:
        failures: list[dict[str, Any]] = []
        for source_id, reason, text in page.bad:
            with self.lock:
                self.counts.extracted += 1
            failures.append(_dead("extract", source_id, None, None, reason, text))
        items = [item for raw in page.records
                 if (item := self._prepare(raw, failures)) is not None]
        links = {} if not items else self.store.links_for(
            self.p.source.system, self.p.target.system, [i.source_id for i in items])
        planned = {"create": 0, "update": 0, "unchanged": 0}
        settled: list[str] = []
        for item in items:
            link = links.get(item.source_id)
            action = plan_action(link.content_hash if link else None, link is not None,
                                 item.digest)
            item.target_id = link.target_id if link else None
            if self._already_pending(item):
                action = "unchanged"
            planned[action] += 1
            if action == "unchanged":
                with self.lock:
                    self.counts.unchanged += 1
                settled.append(item.source_id)
            else:
                self.pending[action == "update"][item.source_id] = item
        with self.lock:
            self.counts.failed += len(failures)
        self._record_failures(failures)
        if settled and self.opt.mode == "retry" and not self.opt.dry_run:
            self.store.resolve_dead_letters(self.p.name, settled, self.run_id)
        self.log.info("page %d: %d records (%d new, %d changed, %d unchanged, %d invalid)",
                      number, len(page.records) + len(page.bad), planned["create"],
                      planned["update"], planned["unchanged"], len(failures))
        for overwrite in (False, True):
            while len(self.pending[overwrite]) >= self.p.target.max_batch:
                self._flush(overwrite, self.p.target.max_batch)
        if not self.opt.dry_run and time.monotonic() - self.beat_at > _HEARTBEAT_SECONDS:
            self.store.heartbeat(self.p.name, self.run_id)
            self.beat_at = time.monotonic()
        if self.progress:
            self.progress(self.counts)

    def _prepare(self, raw: Raw, failures: list[dict[str, Any]]) -> _Item | None:
        with self.lock:
            self.counts.extracted += 1
        source_id = _str_or_none(raw.get(self.p.source.id_field)) if isinstance(raw, dict) \
            else None
        stage = "map"
        try:
            canonical = self.p.to_canonical(raw)
            stage = "validate"
            offering = validate_offering(canonical, key=source_id)
            stage = "map_target"
            payload = self.p.to_target(offering)
        except InvalidRecord as exc:
            err = exc.with_key(source_id or "?")
            failures.append(_dead(stage, source_id, None, err.field, str(err), _dump(raw)))
            return None
        self._watch_watermark(offering)
        return _Item(offering.source_id, offering.external_id, payload, content_hash(payload),
                     raw)

    def _already_pending(self, item: _Item) -> bool:
        """A record seen twice in one run (offset paging may repeat) is loaded once."""
        for overwrite in (False, True):
            if item.source_id in self.pending[overwrite]:
                self.pending[overwrite][item.source_id] = item
                return True
        return False

    def _watch_watermark(self, offering: Offering) -> None:
        moment = offering.modified_at
        if moment is not None and (self.watermark is None or moment > self.watermark):
            self.watermark = moment

    # -- load -----------------------------------------------------------------------------------

    def _flush_all(self) -> None:
        for overwrite in (False, True):
            while self.pending[overwrite]:
                self._flush(overwrite, self.p.target.max_batch)

    def _flush(self, overwrite: bool, size: int) -> None:
        queue = self.pending[overwrite]
        keys = list(queue)[:size]
        batch = [queue.pop(k) for k in keys]
        self.batches += 1
        verb = "update" if overwrite else "create"
        label = f"{verb}-batch-{self.batches}"
        if self.opt.dry_run:
            if overwrite:
                self.counts.updated += len(batch)
            else:
                self.counts.created += len(batch)
            return
        # One batch loads in the background while the next pages are mapped.
        self.loads.submit(lambda: self.run_batch(label, lambda: self._load(batch, overwrite,
                                                                           label)))

    def _load(self, batch: list[_Item], overwrite: bool, label: str) -> dict[str, int]:
        """Send a batch, read every result, commit links and dead letters: one Prefect task."""
        try:
            results = self._send(batch, overwrite)
        except QuotaExhausted as exc:
            with self.lock:
                self.pending[overwrite].update({i.source_id: i for i in batch})
            raise exc from None
        return self._record(batch, results, label)

    def _record(self, batch: list[_Item], results: list[tuple[LoadResult, bool]],
                label: str) -> dict[str, int]:
        loaded: list[Link] = []
        failures: list[dict[str, Any]] = []
        outcome = {"created": 0, "updated": 0, "failed": 0}
        for item, (result, as_update) in zip(batch, results, strict=True):
            if result.ok:
                loaded.append(Link(item.source_id, item.external_id, result.target_id,
                                   item.digest))
                outcome["updated" if as_update else "created"] += 1
                continue
            outcome["failed"] += 1
            if result.target_id:  # created, but not as sent: update it next time
                loaded.append(Link(item.source_id, item.external_id, result.target_id, None))
            failures.append(_dead("load", item.source_id, item.external_id,
                                  result.errors[0][0] if result.errors else None,
                                  f"record {item.source_id}: {self.p.target.system} said: "
                                  f"{result.message}", _dump(item.raw)))
        with self.lock:
            for key, value in outcome.items():
                setattr(self.counts, key, getattr(self.counts, key) + value)
            totals = self.counts.as_dict()
        self.store.record_batch(run_id=self.run_id, pipeline=self.p.name,
                                source=self.p.source.system, target=self.p.target.system,
                                loaded=loaded, failed=failures, counts=totals)
        self.log.info("%s: %d records → %d created, %d updated, %d failed", label, len(batch),
                      outcome["created"], outcome["updated"], outcome["failed"])
        return outcome

    def _send(self, batch: list[_Item], overwrite: bool) -> list[tuple[LoadResult, bool]]:
        """Upsert, flipping ``overwrite`` once for records whose identity said otherwise."""
        try:
            results = self.p.target.upsert([i.payload for i in batch], overwrite=overwrite,
                                           target_ids=[i.target_id for i in batch])
        except Rejected as exc:
            if len(batch) == 1:
                return [(LoadResult(batch[0].external_id, ok=False,
                                    errors=((None, str(exc)),)), overwrite)]
            half = len(batch) // 2  # one bad record must not sink its batch: bisect
            return self._send(batch[:half], overwrite) + self._send(batch[half:], overwrite)
        out = [(r, overwrite) for r in results]
        flip = [i for i, r in enumerate(results)
                if r.conflict == ("exists" if not overwrite else "missing")]
        if flip:
            again = self.p.target.upsert([batch[i].payload for i in flip],
                                         overwrite=not overwrite,
                                         target_ids=[results[i].target_id or batch[i].target_id
                                                     for i in flip])
            for index, result in zip(flip, again, strict=True):
                out[index] = (result, not overwrite)
        return out

    def _fail_pending(self, reason: str) -> None:
        try:
            self.loads.wait()
        except QuotaExhausted:
            pass  # its batch went back to pending, failed below
        failures = []
        for overwrite in (False, True):
            for item in self.pending[overwrite].values():
                self.counts.failed += 1
                failures.append(_dead("load", item.source_id, item.external_id, None,
                                      f"record {item.source_id}: not sent: {reason}",
                                      _dump(item.raw)))
            self.pending[overwrite].clear()
        self._record_failures(failures)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _record_failures(self, failures: Sequence[dict[str, Any]]) -> None:
        if not failures:
            return
        for failure in failures:
            self.log.warning("dead letter (%s): %s", failure["stage"], failure["error"])
        if not self.opt.dry_run:
            with self.lock:
                totals = self.counts.as_dict()
            self.store.record_batch(run_id=self.run_id, pipeline=self.p.name,
                                    source=self.p.source.system, target=self.p.target.system,
                                    loaded=(), failed=failures, counts=totals)

    def _advance_watermark(self) -> None:
        if self.opt.dry_run or self.watermark is None or self.counts.failed:
            return
        if self.p.source.supports_modified_since and self.opt.since is None:
            self.store.set_cursor(self.p.name, _WATERMARK, self.watermark.isoformat())

    def _final_status(self, status: str) -> str:
        if status != "succeeded":
            return status
        extracted = max(self.counts.extracted, 1)
        if self.counts.failed and self.counts.failed / extracted > self.opt.max_failure_ratio:
            return "failed"
        return "succeeded"

    def _dead_letter_rows(self) -> list[dict[str, Any]]:
        if self.opt.dry_run or not self.counts.failed:
            return []
        rows = self.store.dead_letters(run_id=self.run_id, unresolved_only=False, limit=100)
        return [{"id": d.id, "stage": d.stage, "source_id": d.source_id, "field": d.field,
                 "error": d.error} for d in rows]


def _dead(stage: str, source_id: str | None, external_id: str | None, field: str | None,
          error: str, payload: str | None) -> dict[str, Any]:
    return {"stage": stage, "source_id": _storable(source_id),
            "external_id": _storable(external_id), "field": _storable(field),
            "error": _storable(error), "payload": payload}


def _storable(text: str | None) -> str | None:
    """Text a database accepts: invalid Unicode (lone surrogates) becomes escapes."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _dump(raw: Any) -> str:
    text = json.dumps(raw, default=str)  # ASCII: survives invalid Unicode from the feed
    return text if len(text) <= _PAYLOAD_CHARS else text[:_PAYLOAD_CHARS]


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
