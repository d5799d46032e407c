"""The sync engine: extract → map → validate → diff → map to target → load → record, per batch.

Plain Python with no Prefect in it. The caller may pass ``run_batch`` to wrap each batch (the
flow makes each one a Prefect task) and ``progress`` to watch. Memory holds one page plus the
batches being filled, whatever the source's size. A batch's links, dead letters and the run's
totals are committed together after the target answered, so a killed run resumes by simply
running again: loaded records are "unchanged", the rest are loaded, nothing twice.

Failed records are retried by later runs on their own: a run first re-reads the due ones by id
(where the source can) and otherwise meets them in its listing; a mapping failure is retried only
when the record changed. So the watermark moves on over what was read, whatever failed.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from offering_sync.diff import canonical_json, hash_text, plan_action
from offering_sync.engine.heartbeat import Heartbeat
from offering_sync.engine.load import Group, Loader
from offering_sync.engine.options import Counts, Pipeline, RunSummary, SyncOptions
from offering_sync.engine.retire import retire_missing
from offering_sync.engine.state import (
    BatchRunner,
    Item,
    RunState,
    raw_hash,
    record_marker,
    storable,
)
from offering_sync.errors import InvalidRecord, LockHeld, LockLost, QuotaExhausted, SyncError
from offering_sync.model import Offering, validate_offering
from offering_sync.pipelining import Behind, read_ahead
from offering_sync.records import Page, Raw, RecordReader
from offering_sync.state import DeadLetter, Link, StateStore

__all__ = ["sync_pipeline"]

log = logging.getLogger("offering_sync.engine")
_WATERMARK = "modified_since"
_MAP_STAGES = ("map", "validate", "map_target")
_ID_CHARS = 255
_PROGRESS_SECONDS = 10.0
_READ_AHEAD_RECORDS = 10_000
_CONTROL = re.compile("[\x00-\x1f]")


def _records_in(page: Page) -> int:
    """A page's weight in the read-ahead budget: its undecodable records (raw text) count too."""
    return len(page.records) + len(page.bad)


def _direct(_label: str, step: Callable[[], Any]) -> Any:
    return step()


def sync_pipeline(pipeline: Pipeline, store: StateStore, options: SyncOptions | None = None, *,
                  run_batch: BatchRunner[Any] = _direct,
                  progress: Callable[[Counts], None] | None = None,
                  records: Iterable[Page] | None = None,
                  logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
                  run_group: BatchRunner[Any] | None = None,
                  group_seconds: float | None = None,
                  group_max_batches: int = 1) -> RunSummary:
    """Run one sync of ``pipeline`` and return its summary.

    ``records`` replaces the source's pages (used to replay dead letters' stored payloads).
    A failed run raises; the exception carries the run's summary as ``run_summary``.

    Batches load in groups, up to the target's ``batches_in_flight`` at once (its
    ``CONCURRENCY`` setting, issue 17). Each batch is wrapped in ``run_batch``, each group in
    ``run_group`` (the flow's Prefect task). A group holds as many batches as load at once; with
    ``group_seconds`` it grows (doubling, up to ``group_max_batches``) while a group takes less
    than that long, so a task covers about that much loading.

    Raises:
        LockHeld: another live run of the same pipeline holds the lock.
        ConnectorError: the source or target failed as a whole (after retries).
    """
    run = _Run(pipeline, store, options or SyncOptions(), run_batch, progress, logger or log,
               run_group)
    if group_seconds:
        run.group_seconds, run.group_max = group_seconds, max(group_max_batches, run.group_size)
    return run.execute(records)


class _Run(RunState):
    """One run; ``execute`` is the whole algorithm, top to bottom."""

    def __init__(self, pipeline: Pipeline, store: StateStore, options: SyncOptions,
                 run_batch: BatchRunner[Any], progress: Callable[[Counts], None] | None,
                 logger: logging.Logger | logging.LoggerAdapter[Any],
                 run_group: BatchRunner[Any] | None = None) -> None:
        super().__init__(pipeline, store, options, run_batch, logger, run_group)
        self.progress = progress
        self.loads = Behind()
        in_flight = max(1, int(getattr(pipeline.target, "batches_in_flight", 1) or 1))
        self.loader = Loader(self, in_flight)
        self.group = Group(sealed=False)
        self.group_size = in_flight
        self.group_seconds: float | None = None
        self.group_max = in_flight
        self.last_group: Group | None = None
        self.listing_done = False
        self.tracks_seen = False
        self.open_failures = False
        self.started = time.perf_counter()
        self.said_at = self.started
        self.heartbeat: Heartbeat | None = None
        self.refresh: list[Link] = []
        self.settled: list[str] = []
        self.reread: set[str] = set()
        self.listing_started = False

    def execute(self, records: Iterable[Page] | None) -> RunSummary:
        mode = "dry-run" if self.opt.dry_run else self.opt.mode
        params = {"full_refresh": self.opt.full_refresh, "since": self.opt.since,
                  "until": self.opt.until, "dry_run": self.opt.dry_run}
        self.run_id = self.store.start_run(self.name, self.p.source.system,
                                           self.p.target.system, mode, params)
        try:
            replaced = self.store.acquire_lock(self.name, self.run_id,
                                               ttl_seconds=self.opt.lock_ttl_seconds)
        except LockHeld as exc:
            self.store.finish_run(self.run_id, "refused", self.totals(), str(exc))
            _attach(exc, self._summary("refused", str(exc)))
            raise
        if replaced:
            self.log.warning("recovered the lock of run %s, which died; resuming its work",
                             replaced)
        every = max(0.2, min(self.opt.lock_ttl_seconds / 4, 30.0))
        status, message = "succeeded", None
        try:
            with Heartbeat(lambda: self.store.heartbeat(self.name, self.run_id), every) as beat:
                self.heartbeat = beat
                status, message = self._work(records)
        except BaseException as exc:  # recorded, then raised unchanged
            status = "failed" if isinstance(exc, Exception) else "cancelled"
            message = str(exc) if isinstance(exc, SyncError) else \
                f"{exc.__class__.__name__}: {exc}".rstrip(": ")
            self._close(status, message)
            _attach(exc, self._summary(status, message))
            raise
        status = self._final_status(status)
        self._close(status, message)
        return self._summary(status, message)

    def _work(self, records: Iterable[Page] | None) -> tuple[str, str | None]:
        self.run_number = self.store.run_number(self.name)
        self.open_failures = self.store.count_dead_letters(pipeline=self.name) > 0
        self.has_dead_letters = self.open_failures
        self.tracks_seen = records is None and self._reads_everything()
        try:
            number = 0
            for number, page in enumerate(self._all_pages(records), start=1):
                self._check_lock()
                self._take_page(number, page)
            self._say_progress(number, last=True)
            self._flush_all()
            self._seal_group()
            self.loads.wait()
        except QuotaExhausted as exc:
            self._fail_pending(str(exc))
            self.log.warning("%s", exc)
            return "stopped", str(exc)
        self._check_lock()
        if self.tracks_seen and self.listing_done and not self.opt.dry_run:
            retire_missing(self)
        self._advance_watermark(records)
        if not self.opt.dry_run:
            self.store.prune_log(self.opt.log_retention_days)
        return "succeeded", None

    def _close(self, status: str, message: str | None) -> None:
        self.group.seal()  # an open group's step waits for batches until sealed
        self.loads.close()
        self.store.finish_run(self.run_id, status, self.totals(), message)
        self.store.release_lock(self.name, self.run_id)

    def _summary(self, status: str, message: str | None) -> RunSummary:
        return RunSummary(self.run_id, self.name, status, self.counts, self.opt.dry_run,
                          time.perf_counter() - self.started, self.batches, message=message,
                          dead_letters=self._dead_letter_rows(),
                          details={"failure_groups": self.grouped_failures()}
                          if self.failure_reasons else {})

    def _check_lock(self) -> None:
        if self.heartbeat is not None and self.heartbeat.lost:
            raise LockLost(f"run {self.run_id} lost the lock of {self.name}; it stops")

    # -- extract --------------------------------------------------------------------------------

    def _reads_everything(self) -> bool:
        """Whether this run reads the source's whole listing (so absence means gone)."""
        source = self.p.source
        if self.opt.since is not None or self.opt.until is not None:
            return False
        if not getattr(source, "lists_everything", True):
            return False
        return self.opt.full_refresh or not source.supports_modified_since

    def _all_pages(self, records: Iterable[Page] | None) -> Iterator[Page]:
        if records is not None:
            yield from records
            return
        yield from self._due_retries()
        self.listing_started = True
        # Two loading groups' worth of records read ahead, at most _READ_AHEAD_RECORDS (issue 17)
        budget = min(2 * self.group_max * self.p.target.max_batch, _READ_AHEAD_RECORDS)
        yield from read_ahead(self._listing(), budget=budget, size=_records_in)
        self.listing_done = True

    def _listing(self) -> Iterator[Page]:
        since = self.opt.since
        if since is None and not self.opt.full_refresh and self.p.source.supports_modified_since:
            stored = self.store.get_cursor(self.name, _WATERMARK)
            since = datetime.fromisoformat(stored) if stored else None
        for page in self.p.source.pages(since=since, until=self.opt.until):
            if page.total is not None:
                self.counts.source_total = page.total
            yield page

    def _due_retries(self) -> Iterator[Page]:
        """Failed records due for another try, re-read by id where the source can."""
        source = self.p.source
        if not self.open_failures or not isinstance(source, RecordReader) or self.tracks_seen:
            return  # a run reading the whole listing meets them there anyway
        due = self.store.due_retries(self.name, self.run_number)
        ids = [d.source_id for d in due if d.source_id]
        if ids:
            self.log.info("re-reading %d failed records by id", len(ids))
            for page in source.read_ids(ids):
                self.reread.update(_id_of(r, source.id_field) or "" for r in page.records)
                yield page
            self.reread.discard("")

    def _take_page(self, number: int, page: Page) -> None:
        failures: list[dict[str, Any]] = []
        for source_id, reason, text in page.bad:
            self.add("extracted")
            failures.append(self.failure("extract", source_id, None, None, reason, text,
                                         previous=None))
        id_field = self.p.source.id_field
        if self.reread and self.listing_started:  # already read by id for a retry this run
            page = Page([r for r in page.records
                         if _id_of(r, id_field) not in self.reread], page.checkpoint, page.bad,
                        page.total)
        ids = [i for r in page.records if (i := _id_of(r, id_field)) is not None
               and len(i) <= _ID_CHARS and "\x00" not in i]  # others fail validation below
        echoes = self.store.written_by(self.p.source.system, self.p.target.system, ids) \
            if ids else set()
        if echoes:  # a two-way sync: what the reverse pipeline wrote here goes back nowhere
            page = Page([r for r in page.records if _id_of(r, id_field) not in echoes],
                        page.checkpoint, page.bad, page.total)
            ids = [i for i in ids if i not in echoes]
            self.add("extracted", len(echoes))
            self.add("skipped", len(echoes))
            self.log.debug("page %d: %d records are copies written by %s → %s; skipped",
                           number, len(echoes), self.p.target.system, self.p.source.system)
        links = self.store.links_for(self.p.source.system, self.p.target.system, ids)
        open_failures = self.store.open_failures(self.name, ids) if self.open_failures else {}
        if self.tracks_seen and not self.opt.dry_run:
            self.store.mark_seen(self.p.source.system, self.p.target.system, self.run_id,
                                 [i for i in ids if i in links])
        planned = {"create": 0, "update": 0, "unchanged": 0, "skipped": 0}
        for raw in page.records:
            self.add("extracted")
            verdict = self._plan(raw, links, open_failures, failures)
            planned[verdict] = planned.get(verdict, 0) + 1
        self.add("failed", len(failures))
        self.record_failures(failures)
        if self.refresh and not self.opt.dry_run:  # remember the versions that changed nothing
            self.store.record_batch(run_id=self.run_id, pipeline=self.name,
                                    source=self.p.source.system, target=self.p.target.system,
                                    loaded=self.refresh, failed=())
        self.refresh = []
        if self.settled and not self.opt.dry_run:
            self.store.resolve_dead_letters(self.name, self.settled, self.run_id)
        self.settled = []
        self.log.debug("page %d: %d records (%d new, %d changed, %d unchanged, %d skipped, "
                       "%d invalid)", number, len(page.records) + len(page.bad),
                       planned["create"], planned["update"], planned["unchanged"],
                       planned["skipped"], len(failures))
        self._say_progress(number)
        for overwrite in (False, True):
            while len(self.pending[overwrite]) >= self.p.target.max_batch:
                self._flush(overwrite)
        if self.progress:
            self.progress(self.counts)

    def _say_progress(self, pages: int, *, last: bool = False) -> None:
        """One INFO line every ``_PROGRESS_SECONDS`` instead of one per page and per batch.

        In a flow every INFO line goes to the Prefect server: a line per page and per batch was
        1,500 lines for 100k records, noise in the UI and CPU on cores the sync needs (the
        page and batch lines are still there at DEBUG).
        """
        at = time.perf_counter()
        if not last and at - self.said_at < _PROGRESS_SECONDS:
            return
        self.said_at = at
        done = {k: v for k, v in self.totals().items() if v and k != "extracted"}
        self.log.info("%s records read in %d pages%s: %s", f"{self.counts.extracted:,}", pages,
                      "" if last else " so far",
                      ", ".join(f"{v:,} {k}" for k, v in sorted(done.items())) or "nothing yet")

    def _plan(self, raw: Raw, links: dict[str, Link], open_failures: dict[str, DeadLetter],
              failures: list[dict[str, Any]]) -> str:
        """Decide one record: create, update, unchanged, skipped (or failed into ``failures``)."""
        source_id = _id_of(raw, self.p.source.id_field)
        link = links.get(source_id) if source_id else None
        dead = open_failures.get(source_id) if source_id else None
        digest_of_raw: str | None = None
        if dead is not None and self.opt.mode != "retry":  # an operator's retry tries them all
            if dead.parked:
                return self._still_failing()
            if dead.stage in _MAP_STAGES:
                digest_of_raw = raw_hash(raw)
                if digest_of_raw == dead.raw_hash:  # same content, same failure: don't hammer
                    return self._still_failing()
            elif dead.retry_at_run is not None and dead.retry_at_run > self.run_number:
                return self._still_failing()
        if dead is not None:
            self.add("retried")
        version = self._source_version(raw)
        if (dead is None and link is not None and link.state == "active" and link.content_hash
                and version is not None and link.source_version == version
                and not self.opt.full_refresh):
            self.add("unchanged")  # the source says nothing changed: not even mapped
            return "unchanged"
        item = self._prepare(raw, source_id, version, failures, dead, digest_of_raw)
        if item is None:
            return "invalid"
        revive = link is not None and link.state == "deactivated"
        if link is None or link.state == "deleted":
            action = "create"
        else:
            action = "update" if revive else plan_action(link.content_hash, True, item.digest)
            item.target_id, item.written_hash = link.target_id, link.content_hash
            item.target_version, item.revive = link.target_version, revive
        if self._already_pending(item):
            action = "unchanged"
        if action == "unchanged":
            self.add("unchanged")
            if link is not None and version is not None and link.source_version != version:
                self.refresh.append(_with_version(link, version))
            if dead is not None:  # it loaded since: nothing left to do for its dead letter
                self.settled.append(item.source_id)
            return "unchanged"
        self.pending[action == "update"][item.source_id] = item
        return action

    def _still_failing(self) -> str:
        """Skip a record whose earlier failure stands; the run still says it is not loaded."""
        self.add("skipped")
        self.add("still_failing")
        return "skipped"

    def _source_version(self, raw: Raw) -> str | None:
        """The source's change marker for this record, tied to the mappings in use.

        A source without a version field (DigitalChalk, SmarterProctoring list no modification
        date) is marked by the hash of the record as read: a record read again with the same
        content under the same mappings is not mapped again, which made a no-op re-sync of
        such a source map and hash every record (issue 17). What mappings read beyond the
        record (lookups of target data) is re-read by ``--full-refresh``, which maps every
        record whatever its marker.
        """
        field = getattr(self.p.source, "version_field", None)
        if field:
            value = raw.get(field) if isinstance(raw, dict) else None
            return None if value is None else f"{value}|{self.p.digest}"
        marker = record_marker(raw)
        return None if marker is None else f"raw:{marker}|{self.p.digest}"

    def _prepare(self, raw: Raw, source_id: str | None, version: str | None,
                 failures: list[dict[str, Any]], dead: DeadLetter | None,
                 digest_of_raw: str | None) -> Item | None:
        stage = "map"
        external_id: str | None = None  # known once mapped: history finds a failure by it too
        try:
            canonical = self.p.to_canonical(raw)
            known = canonical.get("external_id") if isinstance(canonical, dict) else None
            external_id = known if isinstance(known, str) else None
            stage = "validate"
            offering = validate_offering(canonical, key=source_id)
            _check_identity(offering)
            stage = "map_target"
            payload, defaulted = self.p.to_target.with_defaults(offering)
        except InvalidRecord as exc:
            error, field = str(exc.with_key(source_id or "?")), exc.field
        except (ValueError, TypeError, ArithmeticError) as exc:  # a poison value, not a crash
            error = f"record {source_id or '?'}: {exc.__class__.__name__}: {exc}"
            field = None
        else:
            self._watch_watermark(offering)
            text = canonical_json(payload)  # hashed here, stored in the sync log later
            return Item(offering.source_id, offering.external_id, payload, hash_text(text), raw,
                        version, defaulted=defaulted, text=text)
        failures.append(self.failure(stage, source_id, external_id, field, error, raw,
                                     previous=dead, raw_hash=digest_of_raw or _safe_hash(raw)))
        return None

    def _already_pending(self, item: Item) -> bool:
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

    # -- load ----------------------------------------------------------------------------------

    def _flush_all(self) -> None:
        for overwrite in (False, True):
            while self.pending[overwrite]:
                self._flush(overwrite)

    def _flush(self, overwrite: bool) -> None:
        queue = self.pending[overwrite]
        keys = list(queue)[:self.p.target.max_batch]
        batch = [queue.pop(k) for k in keys]
        self.batches += 1
        label = f"{'update' if overwrite else 'create'}-batch-{self.batches}"
        if self.opt.dry_run:
            self.loader.plan(batch, overwrite)
            return
        if self.group.overlaps(batch):  # a record twice: its writes must not overlap
            self._seal_group()
        if not self.group.add(label, batch, overwrite):  # its step stopped on an error
            self.group = Group(sealed=False)
            self.group.add(label, batch, overwrite)
        self._start_group()  # raises the error a stopped step left
        if len(self.group.batches) >= self.group_size:
            self._seal_group()

    def _start_group(self) -> None:
        """Start loading the open group with its first batch (after the previous group).

        The group then takes each batch as it is added: the loader sends a batch as soon as
        it is mapped instead of waiting for a group to fill.
        """
        group = self.group
        if group.submitted or not group.batches:
            return
        group.submitted = True
        self.loads.submit(lambda: self.loader.guarded_group(group))
        self._resize_groups(self.last_group)  # the previous group has finished by now
        self.last_group = group

    def _seal_group(self) -> None:
        """End the open group: it finishes loading what it has; the next batch opens another."""
        self._start_group()
        self.group.seal()
        self.group = Group(sealed=False)

    def _resize_groups(self, finished: Group | None) -> None:
        """Grow groups while one loads in under ``group_seconds`` (a task per that much work)."""
        if finished is None or not self.group_seconds or not finished.seconds:
            return
        if finished.seconds < self.group_seconds / 2 and len(finished.batches) >= self.group_size:
            self.group_size = min(self.group_size * 2, self.group_max)
        elif finished.seconds > self.group_seconds * 2:
            self.group_size = max(self.group_size // 2, self.loader.in_flight)

    def _fail_pending(self, reason: str) -> None:
        self.group.seal()
        try:
            self.loads.wait()
        except QuotaExhausted:
            pass  # its batches went back to pending, failed below
        group = self.group
        with group.cond:
            group.close()
            for index, (_label, batch, overwrite) in enumerate(group.batches):
                if index not in group.tried:  # never sent
                    self.pending[overwrite].update({i.source_id: i for i in batch})
        self.group = Group(sealed=False)
        failures = []
        for overwrite in (False, True):
            for item in self.pending[overwrite].values():
                failures.append(self.failure("load", item.source_id, item.external_id, None,
                                             f"record {item.source_id}: not sent: {reason}",
                                             item.raw, previous=None))
            self.pending[overwrite].clear()
        self.add("failed", len(failures))
        self.record_failures(failures)

    # -- bookkeeping ----------------------------------------------------------------------------

    def _advance_watermark(self, records: Iterable[Page] | None) -> None:
        """Move the watermark over a window read in full; never past records left behind.

        Failed records no longer hold it back where the source can re-read them by id: they
        are retried on their own. A source that cannot keeps the old rule.
        """
        if self.opt.dry_run or records is not None or not self.listing_done:
            return
        if self.watermark is None or self.opt.since is not None:
            return
        if not self.p.source.supports_modified_since:
            return
        if self.counts.failed and not isinstance(self.p.source, RecordReader):
            return
        self.store.set_cursor(self.name, _WATERMARK, self.watermark.isoformat())

    def _final_status(self, status: str) -> str:
        if status != "succeeded":
            return status
        extracted = max(self.counts.extracted, 1)
        if self.counts.failed and self.counts.failed / extracted > self.opt.max_failure_ratio:
            return "failed"
        return "succeeded"

    def _dead_letter_rows(self) -> list[dict[str, Any]]:
        if self.opt.dry_run or not self.counts.failed or not self.run_id:
            return []
        try:
            rows = self.store.dead_letters(run_id=self.run_id, unresolved_only=False, limit=100)
        except SyncError:
            return []
        return [{"id": d.id, "stage": d.stage, "source_id": d.source_id, "field": d.field,
                 "error": d.error} for d in rows]


def _id_of(raw: Any, id_field: str) -> str | None:
    value = raw.get(id_field) if isinstance(raw, dict) else None
    return None if value is None else str(value)


def _check_identity(offering: Offering) -> None:
    """Ids every store accepts: at most 255 characters, no control characters (NUL)."""
    for field in ("source_id", "external_id"):
        value = getattr(offering, field)
        if len(value) > _ID_CHARS:
            raise InvalidRecord(f"is longer than {_ID_CHARS} characters", field=field,
                                value=storable(value, 60))
        if _CONTROL.search(value):
            raise InvalidRecord("holds a control character", field=field,
                                value=storable(value, 60))


def _safe_hash(raw: Any) -> str | None:
    try:
        return raw_hash(raw)
    except (TypeError, ValueError):
        return None


def _with_version(link: Link, version: str) -> Link:
    return Link(link.source_id, link.external_id, link.target_id, link.content_hash,
                link.target_version, version, link.state)


def _attach(exc: BaseException, summary: RunSummary) -> None:
    try:
        exc.run_summary = summary  # type: ignore[attr-defined]
    except AttributeError:
        pass
