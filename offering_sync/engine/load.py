"""Loading one batch: guard identities, record create intents, send, read every result, commit.

One batch is one step (a Prefect task in a flow run), retried as a whole on transient failure.
Nothing here creates a record twice: external ids already linked to another source record are
refused before anything is sent; for targets without an upsert key a create intent is recorded
before the first send and handed back to the target on any later attempt, so it can find what
an unanswered create made. A batch the target refuses whole is bisected so one bad record
cannot sink it, unless the refusal says the set-up is wrong (401/403/404/405: every record would
fail the same way), which stops the run without a dead letter for records never really tried.
"""

from __future__ import annotations

import contextvars
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from dataclasses import field as default
from typing import Any

from offering_sync.diff import canonical_json
from offering_sync.engine.state import Item, RunState
from offering_sync.errors import ConfigError, QuotaExhausted, Rejected, TransientError
from offering_sync.records import CreateIntent, LoadResult, TargetPlanner, WriteRequest
from offering_sync.state import Link, LogEntry

__all__ = ["Group", "Loader", "SystemicFailure"]

_SYSTEMIC_STATUSES = (401, 403, 404, 405)
_TRANSIENT_BATCHES_IN_A_ROW = 3


class SystemicFailure(ConfigError):
    """The target refuses everything the same way: a setting is wrong, not the records."""


@dataclass
class Group:
    """Batches loaded as one step (one Prefect task in a flow run), up to ``k`` at once.

    No record (by source or external id) is in two batches of one group, and one group loads at
    a time, so two writes of one record never overlap. ``done`` survives a retry of the step:
    a retry sends only the batches not yet committed.

    The engine's groups are open (``sealed=False``): the step starts with the first batch and
    takes each further batch as it is added, so no batch waits for its group to fill (issue 17);
    it ends once the group is sealed and every batch is done. A group built whole is sealed.
    """

    batches: list[tuple[str, list[Item], bool]] = default(default_factory=list)
    keys: set[str] = default(default_factory=set)
    done: set[int] = default(default_factory=set)
    tried: set[int] = default(default_factory=set)
    seconds: float = 0.0
    sealed: bool = True
    closed: bool = False
    submitted: bool = False
    cond: threading.Condition = default(default_factory=threading.Condition, repr=False)

    def add(self, label: str, batch: list[Item], overwrite: bool) -> bool:
        """Take one more batch (the caller checked ``overlaps`` first).

        False once the step has ended (it stopped on an error): the batch was not taken.
        """
        with self.cond:
            if self.closed:
                return False
            self.batches.append((label, batch, overwrite))
            self.keys.update(keys_of(batch))
            self.cond.notify_all()
        return True

    def seal(self) -> None:
        """No more batches: the step ends once those it has are done."""
        with self.cond:
            self.sealed = True
            self.cond.notify_all()

    def close(self) -> None:
        """The step has ended: later batches go to another group."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def wake(self, _finished: object = None) -> None:
        """Wake the step (a batch finished)."""
        with self.cond:
            self.cond.notify_all()

    def next_todo(self, started: set[int]) -> int | None:
        """The first batch neither done nor started in this attempt (call holding ``cond``)."""
        for index in range(len(self.batches)):
            if index not in self.done and index not in started:
                return index
        return None

    def overlaps(self, batch: list[Item]) -> bool:
        """Whether a record of ``batch`` is already in this group."""
        return not self.keys.isdisjoint(keys_of(batch))

    @property
    def label(self) -> str:
        """``create-batch-7``, or ``create-batches-7-12`` (``batches-…`` when mixed)."""
        batches = list(self.batches)
        if len(batches) == 1:
            return batches[0][0]
        first, last = batches[0][0], batches[-1][0]
        kinds = {label.split("-", 1)[0] for label, _, _ in batches}
        kind = f"{kinds.pop()}-" if len(kinds) == 1 else ""
        return f"{kind}batches-{first.rsplit('-', 1)[-1]}-{last.rsplit('-', 1)[-1]}"


def keys_of(batch: list[Item]) -> set[str]:
    """The ids that must not be written twice at once: source and external ids."""
    return {f"s:{i.source_id}" for i in batch} | {f"e:{i.external_id}" for i in batch}


class Loader:
    """Sends batches for one run and records what the target said."""

    def __init__(self, run: RunState, in_flight: int = 1) -> None:
        self.run = run
        self.in_flight = max(1, in_flight)
        self.transient_streak = 0
        self.first_failures: list[str] = []
        self.any_loaded = False
        self.lock = threading.Lock()
        self.stopped: BaseException | None = None

    # -- the step around a group of batches -------------------------------------------------------

    def guarded_group(self, group: Group) -> None:
        """Run one group step; batches that still fail transiently become dead letters.

        The step is ``run_group`` (a Prefect task with retries in a flow run); each batch in it
        is ``run_batch`` (direct in a flow run). A retry of the step resumes the group. The step
        returns the group's final label (an open group's grows while it loads), which the flow
        gives its task run.
        """
        run = self.run
        started = time.perf_counter()
        failed: dict[int, TransientError] = {}
        try:
            if self.stopped is not None:  # an earlier group stopped the run: send nothing more
                raise self.stopped
            run.run_group(group.label, lambda: self._load_group(group, failed))
        except TransientError as exc:
            self._give_up(group, failed, exc)
        except BaseException as exc:
            self.stopped = self.stopped or exc
            raise
        else:
            self.transient_streak = 0
        finally:
            group.close()
            group.seconds = time.perf_counter() - started

    def _give_up(self, group: Group, failed: dict[int, TransientError],
                 exc: TransientError) -> None:
        run = self.run
        for index, (label, batch, _overwrite) in enumerate(group.batches):
            if index in group.done:
                continue
            error = failed.get(index, exc)
            previous = run.store.open_failures(run.name, [i.source_id for i in batch])
            failures = [run.failure("load", i.source_id, i.external_id, None,
                                    f"record {i.source_id}: not loaded after retries: {error}",
                                    i.raw, previous=previous.get(i.source_id)) for i in batch]
            run.add("failed", len(batch))
            run.record_failures(failures)
            run.log.warning("%s: %d records not loaded after retries (%s)", label, len(batch),
                            error)
            self.transient_streak = 0 if group.done else self.transient_streak + 1
            if self.transient_streak >= _TRANSIENT_BATCHES_IN_A_ROW:
                raise SystemicFailure(
                    f"{run.p.target.system} failed {self.transient_streak} batches in a row "
                    f"after retries ({error}); stopping instead of failing every record"
                ) from error

    def _load_group(self, group: Group, failed: dict[int, TransientError]) -> str:
        """Load the group's batches not yet done, ``in_flight`` at once, each as ``run_batch``.

        A batch starts as soon as it is in the group and a slot is free; an open group is
        waited on until sealed. A batch failing transiently does not stop the others; its
        error is raised at the end (so the step is retried for the batches left). Any other
        error stops sending and is raised once the batches in flight have finished.
        """
        run = self.run
        failed.clear()
        started: set[int] = set()
        running: dict[Future[None], int] = {}
        fatal: BaseException | None = None

        def one(index: int) -> None:
            label, batch, overwrite = group.batches[index]
            run.run_batch(label, lambda: self.load(batch, overwrite, label))

        def settle(index: int, error: BaseException | None) -> None:
            nonlocal fatal
            if error is None:
                group.done.add(index)
            elif isinstance(error, TransientError):
                failed[index] = error
            else:
                fatal = fatal or error

        pool = ThreadPoolExecutor(max_workers=self.in_flight, thread_name_prefix="load") \
            if self.in_flight > 1 else None
        try:
            while True:
                with group.cond:
                    while True:
                        finished = [f for f in running if f.done()]
                        index = None if fatal is not None or len(running) >= self.in_flight \
                            else group.next_todo(started)
                        # nothing in flight, nothing to start, and nothing more will come
                        over = index is None and not running and (fatal is not None
                                                                  or group.sealed)
                        if finished or index is not None or over:
                            break
                        group.cond.wait()
                    if index is not None:
                        started.add(index)
                        group.tried.add(index)
                if over:
                    break
                for future in finished:
                    settle(running.pop(future), future.exception())
                if index is None:
                    continue
                if pool is None:
                    try:
                        one(index)
                    except BaseException as exc:  # noqa: BLE001 - raised below
                        settle(index, exc)
                    else:
                        settle(index, None)
                    continue
                future = pool.submit(contextvars.copy_context().run, one, index)
                running[future] = index
                future.add_done_callback(group.wake)
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        if fatal is not None:
            group.close()
            if isinstance(fatal, QuotaExhausted):  # not loaded: back to pending, failed there
                # Every batch not done, not only those never tried: a batch that failed
                # transiently (in this attempt or an earlier one, as ``tried`` outlives the
                # attempt) is retried by no one once the quota stops the step.
                with run.lock:
                    for index, (_label, batch, overwrite) in enumerate(group.batches):
                        if index not in group.done:
                            run.pending[overwrite].update({i.source_id: i for i in batch})
            raise fatal
        if failed:
            raise failed[min(failed)]
        return group.label

    # -- one batch -------------------------------------------------------------------------------

    def load(self, batch: list[Item], overwrite: bool, label: str) -> dict[str, int]:
        """Send a batch, read every result, commit links and dead letters (one Prefect task)."""
        run = self.run
        items, clashes = self._refuse_identity_clashes(batch)
        requests = self._requests(items, overwrite)
        try:
            results = self._send(requests, overwrite) if requests else []
        except QuotaExhausted:
            with run.lock:
                run.pending[overwrite].update({i.source_id: i for i in batch})
            raise
        return self._record(items, results, clashes, label)

    def plan(self, batch: list[Item], overwrite: bool) -> None:
        """Dry run: ask the target, read-only, what each write would do."""
        run = self.run
        requests = [_request(i, None) for i in batch]
        target = run.p.target
        if isinstance(target, TargetPlanner):
            results = target.plan(requests)
            would = [r.action for r in results]
        else:
            would = ["would_update" if overwrite else "would_create"] * len(batch)
        run.add("updated", sum(1 for a in would if a == "would_update"))
        run.add("created", sum(1 for a in would if a != "would_update"))

    # -- before sending ---------------------------------------------------------------------------

    def _refuse_identity_clashes(self, batch: list[Item]) -> tuple[list[Item], list[Item]]:
        """Two source records mapping to one external id must not overwrite each other."""
        run = self.run
        linked = run.store.links_by_external(run.p.source.system, run.p.target.system,
                                             [i.external_id for i in batch])
        keep: list[Item] = []
        clash: list[Item] = []
        seen: dict[str, str] = {}
        for item in batch:
            owner = linked.get(item.external_id) or seen.get(item.external_id)
            if owner is not None and owner != item.source_id:
                clash.append(item)
                continue
            seen[item.external_id] = item.source_id
            keep.append(item)
        return keep, clash

    def _requests(self, items: list[Item], overwrite: bool) -> list[WriteRequest]:
        run = self.run
        target = run.p.target
        if overwrite and run.policy.merges:
            sent = run.store.last_sent(run.p.source.system, run.p.target.system,
                                       [i.source_id for i in items])
            return [replace(_request(i, None), previous=_json(sent.get(i.source_id)))
                    for i in items]
        if overwrite or target.upsert_key or not items:
            return [_request(i, None) for i in items]
        known = run.store.open_intents(run.name, [i.external_id for i in items])
        fields = tuple(getattr(target, "identity_fields", ()))
        fresh = [(i.external_id, _fingerprint(i.payload, fields)) for i in items
                 if i.external_id not in known]
        run.store.record_intents(run.name, run.run_id, fresh)
        return [_request(i, known.get(i.external_id)) for i in items]

    # -- sending -------------------------------------------------------------------------------------

    def _send(self, requests: list[WriteRequest], overwrite: bool, *, flip: bool = True,
              ) -> list[tuple[LoadResult, bool]]:
        """Upsert; bisect a refused batch; flip ``overwrite`` once where identity said otherwise."""
        run = self.run
        try:
            results = run.p.target.upsert(requests, overwrite=overwrite, policy=run.policy)
            if len(results) != len(requests):
                raise Rejected(f"answered {len(results)} results for {len(requests)} records",
                               system=run.p.target.system)
        except Rejected as exc:
            if exc.status in _SYSTEMIC_STATUSES:
                raise SystemicFailure(
                    f"{run.p.target.system} refused a whole request with HTTP {exc.status} "
                    f"({exc}); check OFFERING_SYNC_{run.p.target.system.upper()}_BASE_URL and "
                    "the credentials") from exc
            if len(requests) == 1:
                return [(LoadResult(requests[0].key, ok=False, errors=((None, str(exc)),)),
                         overwrite)]
            half = len(requests) // 2  # one bad record must not sink its batch: bisect
            return self._send(requests[:half], overwrite, flip=flip) + \
                self._send(requests[half:], overwrite, flip=flip)
        out = [(r, overwrite) for r in results]
        wrong = "exists" if not overwrite else "missing"
        indexes = [i for i, r in enumerate(results) if r.conflict == wrong]
        if flip and indexes:
            if overwrite:  # gone from the target: create it anew (with an intent, if needed)
                retry = [replace(requests[i], target_id=None, target_version=None,
                                 written_hash=None) for i in indexes]
                if not run.p.target.upsert_key:
                    fields = tuple(getattr(run.p.target, "identity_fields", ()))
                    run.store.record_intents(run.name, run.run_id, [
                        (r.key, _fingerprint(dict(r.payload), fields)) for r in retry])
            else:  # it exists: update it where the target says it is
                retry = [replace(requests[i], target_id=results[i].target_id
                                 or requests[i].target_id) for i in indexes]
            again = self._send(retry, not overwrite, flip=False)
            for index, answer in zip(indexes, again, strict=True):
                out[index] = answer
        return out

    # -- recording -------------------------------------------------------------------------------------

    def _record(self, items: list[Item], results: list[tuple[LoadResult, bool]],
                clashes: list[Item], label: str) -> dict[str, int]:
        run = self.run
        loaded: list[Link] = []
        log: list[LogEntry] = []
        failed_items: list[tuple[Item, str | None, str, LoadResult | None]] = []
        outcome: dict[str, int] = {}
        for item, (result, as_update) in zip(items, results, strict=True):
            action = result.action or ("updated" if as_update else "created")
            if result.conflict == "changed":
                outcome["conflicts"] = outcome.get("conflicts", 0) + 1
            if result.ok:
                self.any_loaded = True
                loaded.append(Link(item.source_id, item.external_id,
                                   result.target_id or item.target_id, item.digest,
                                   result.target_version, item.source_version))
                log.append(LogEntry(item.source_id, item.external_id,
                                    result.target_id or item.target_id, _verb(action), "ok",
                                    item.digest, _sent(result, item),
                                    "target changed since our last write" if result.conflict
                                    else None))
                outcome[action] = outcome.get(action, 0) + 1
                continue
            if result.target_id:  # it exists, but not as sent: update it next time
                loaded.append(Link(item.source_id, item.external_id, result.target_id, None,
                                   result.target_version, None))
            failed_items.append((item, result.errors[0][0] if result.errors else None,
                                 f"record {item.source_id}: {run.p.target.system} said: "
                                 f"{result.message}", result))
        for item in clashes:
            failed_items.append((item, "external_id",
                                 f"record {item.source_id}: external id {item.external_id} is "
                                 "already used by another source record; two records may not "
                                 "share one target record", None))
        failures = self._failures(failed_items, log)
        outcome["failed"] = len(failures)
        for key, value in outcome.items():
            run.add(key, value)
        clashed = {id(i) for i in clashes}  # their external id is another record's: keep its intent
        run.store.record_batch(run_id=run.run_id, pipeline=run.name,
                               source=run.p.source.system, target=run.p.target.system,
                               loaded=loaded, failed=failures, counts=run.totals(), log=log,
                               settle=[i.external_id for i, *_ in failed_items
                                       if id(i) not in clashed],
                               has_intents=not run.p.target.upsert_key,
                               resolve=run.may_resolve(),
                               sent={i.source_id: _sent(None, i) for i in items}
                               if run.policy.merges else None)
        run.log.debug("%s: %d records → %s", label, len(items) + len(clashes),
                      ", ".join(f"{v} {k}" for k, v in sorted(outcome.items()) if v)
                      or "nothing")
        self._watch_systemic(failures)
        return outcome

    def _failures(self, failed_items: list[tuple[Item, str | None, str, LoadResult | None]],
                  log: list[LogEntry]) -> list[dict[str, Any]]:
        run = self.run
        if not failed_items:
            return []
        previous = run.store.open_failures(run.name, [i.source_id for i, *_ in failed_items])
        failures = []
        for item, field, error, result in failed_items:
            failures.append(run.failure("load", item.source_id, item.external_id, field, error,
                                        item.raw, previous=previous.get(item.source_id)))
            operation = "conflict" if result is not None and result.conflict == "changed" \
                else "fail"
            log.append(LogEntry(item.source_id, item.external_id,
                                (result.target_id if result else None) or item.target_id,
                                operation, "failed", item.digest, _sent(result, item), error))
        return failures

    def _watch_systemic(self, failures: list[dict[str, Any]]) -> None:
        """The same failure on the first N records in a row is a set-up problem, not N records."""
        limit = self.run.opt.systemic_after
        with self.lock:
            if self.any_loaded or not failures or len(self.first_failures) >= limit:
                return
            self.first_failures += [f["error"].split(" said: ", 1)[-1] for f in failures]
            first = self.first_failures[:limit]
        if len(first) == limit and len(set(first)) == 1:
            raise SystemicFailure(
                f"the first {limit} records sent to {self.run.p.target.system} all failed "
                f"with: {first[0]}; check the target's settings and the mapping")


def _request(item: Item, intent: Any) -> WriteRequest:
    found = CreateIntent(intent.fingerprint, intent.created_at) if intent is not None else None
    return WriteRequest(item.external_id, item.payload, item.target_id, item.written_hash,
                        item.target_version, found, item.revive, defaulted=item.defaulted)


def _json(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _fingerprint(payload: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    if not fields:
        return dict(payload)
    return {f: payload.get(f) for f in fields}


def _verb(action: str) -> str:
    return {"created": "create", "updated": "update", "adopted": "adopt", "skipped": "skip",
            "deactivated": "deactivate", "deleted": "delete"}.get(action, action)


def _sent(_result: LoadResult | None, item: Item) -> str:
    """What we wrote: our mapped payload (the fields we own) as the canonical JSON we hashed."""
    return item.text if item.text is not None else canonical_json(item.payload)
