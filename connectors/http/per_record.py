"""One base for targets written one record per call (Rhythm, SmarterProctoring).

It holds the loop, identity, field ownership, conflict checks and the crash guard.

What it guarantees, whatever the vendor:
- **Nothing created twice.** The link table is the identity. A create whose answer was lost is
  *uncertain*: after the batch, the target's listing is read once and the record is looked for
  by its fingerprint (the payload's identity fields, created after the attempt began); only when
  it is not there is the create sent again. A request that carries a create intent from an
  interrupted run is looked for the same way before anything is created. Exactly one match is
  adopted; several are refused (a dead letter), never merged.
- **Nothing the target owns destroyed.** An update reads the current record and overlays only
  the fields the mapping owns (``offering_sync.ownership``), then replaces it.
- **Edits in the target noticed.** The version the target showed after our last write is
  compared with the current one; a difference is a conflict handled by the pipeline's policy.
- **An outage is not a thousand bad records.** A refusal of one record becomes its failed
  result; a refusal that says the set-up is wrong (401/403/404/405 on a create) and transient
  failures that outlast the retries stop the batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

from offering_sync.connectors.http.settings import ConnectionSettings, HttpConnector
from offering_sync.errors import ConnectorError, Rejected, TransientError
from offering_sync.ownership import on_conflict, overlay
from offering_sync.records import LoadResult, WritePolicy, WriteRequest

__all__ = ["PerRecordTarget", "load_each"]

T = TypeVar("T")
S = TypeVar("S", bound=ConnectionSettings)
_UNCERTAIN = object()
_ROUNDS = 3
_CLOCK_SKEW = timedelta(minutes=5)
_SETUP_STATUSES = (401, 403, 404, 405)


def load_each(items: Sequence[T], key: Callable[[T], str], load: Callable[[T], Any],
              *, concurrency: int) -> list[Any]:
    """Run ``load`` on every item, at most ``concurrency`` at a time, results in order.

    A record the vendor refuses (``Rejected``) becomes a failed result and the rest go on; a
    refusal that means the set-up is wrong, and failures of the whole service, propagate.
    """
    def one(item: T) -> Any:
        try:
            return load(item)
        except Rejected as exc:
            if exc.status in _SETUP_STATUSES:  # a wrong path or host, not a bad record
                raise
            return LoadResult(key(item), ok=False,
                              errors=((None, exc.vendor_message or str(exc)),))

    if concurrency <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)),
                            thread_name_prefix="load") as pool:
        return list(pool.map(one, items))


class PerRecordTarget(HttpConnector[S]):
    """The write loop of a per-record API; subclasses say only what their vendor differs in."""

    upsert_key = False
    max_batch = 100
    identity_fields: ClassVar[tuple[str, ...]] = ()
    """Payload fields that identify a record we created (the create intent's fingerprint)."""
    adopt_without_intent: ClassVar[bool] = False
    """True when an identity field is ours alone (Rhythm's ``sys_external_id``)."""
    retire_modes: tuple[str, ...] = ()

    def __init__(self, http: Any, settings: S) -> None:
        super().__init__(http, settings)
        self._index: list[Mapping[str, Any]] | None = None
        self._index_lock = threading.Lock()
        self._created_since_index = False
        """A create went out after the index was read: it may miss records we made."""

    # -- what a vendor module supplies ---------------------------------------------------------

    def list_all(self) -> Iterable[Mapping[str, Any]]:
        """Every record in the target (the fields identity needs suffice)."""
        raise NotImplementedError

    def fetch(self, target_id: str, key: str) -> Mapping[str, Any] | None:
        """The current record, or None when it no longer exists."""
        raise NotImplementedError

    def create(self, body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        """Create; returns the created record (with its id)."""
        raise NotImplementedError

    def replace(self, target_id: str, body: Mapping[str, Any], current: Mapping[str, Any],
                key: str) -> Mapping[str, Any]:
        """Replace the whole record; returns the vendor's answer (may be empty)."""
        raise NotImplementedError

    def record_id(self, record: Mapping[str, Any]) -> str:
        """The target's own id of a record."""
        raise NotImplementedError

    def version(self, record: Mapping[str, Any]) -> str | None:
        """The record's version or modification time, for conflict detection."""
        raise NotImplementedError

    def created_at(self, record: Mapping[str, Any]) -> datetime | None:
        """When the target created the record (for adoption after a crash)."""
        raise NotImplementedError

    def editable(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The current record in payload shape: what a replace would send back unchanged."""
        raise NotImplementedError

    def create_body(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The body of a create from our payload."""
        return dict(payload)

    def same_identity(self, record: Mapping[str, Any], fingerprint: Mapping[str, Any]) -> bool:
        """Whether ``record`` looks exactly like the create ``fingerprint`` describes."""
        shaped = self.editable(record)
        return all(shaped.get(k) == v for k, v in fingerprint.items())

    def revived(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body of a record we deactivated, made active again."""
        return body

    # -- the seam --------------------------------------------------------------------------------

    def upsert(self, batch: Sequence[WriteRequest], *, overwrite: bool,
               policy: WritePolicy) -> list[LoadResult]:
        """Create or update each record; uncertain creates are checked before any resend.

        Raises:
            ConnectorError: the set-up is wrong, or the service failed as a whole.
        """
        results: list[LoadResult | None] = [None] * len(batch)
        todo = list(range(len(batch)))
        for _round in range(_ROUNDS):
            started = datetime.now().astimezone()
            answers = load_each(todo, lambda i: batch[i].key,
                                lambda i: self._one(batch[i], policy),
                                concurrency=getattr(self.settings, "concurrency", 1))
            uncertain = []
            for index, answer in zip(todo, answers, strict=True):
                if answer is _UNCERTAIN:
                    uncertain.append(index)
                else:
                    results[index] = answer
            if not uncertain:
                break
            self._forget_index()
            todo = []
            for index in uncertain:
                found = self._find_ours(batch[index], started - _CLOCK_SKEW)
                if isinstance(found, LoadResult):
                    results[index] = found
                elif found is None:
                    todo.append(index)  # really not there: create again
                else:
                    results[index] = LoadResult(batch[index].key, ok=True,
                                                target_id=self.record_id(found),
                                                action="created",
                                                target_version=self.version(found))
            if not todo:
                break
            time.sleep(0.2 * (_round + 1))
        if any(r is None for r in results):
            raise TransientError("creates went unanswered and are not in the target yet; the "
                                 "batch is retried (its create intents prevent duplicates)",
                                 system=self.system)
        return [r for r in results if r is not None]

    def plan(self, batch: Sequence[WriteRequest]) -> list[LoadResult]:
        """Dry run: read-only; an unlinked record already in the target would be updated."""
        out = []
        for request in batch:
            known = request.target_id is not None
            if not known and (request.intent is not None or self.adopt_without_intent):
                found = self._find_ours(request, None)
                known = isinstance(found, Mapping)
            out.append(LoadResult(request.key, ok=True, target_id=request.target_id,
                                  action="would_update" if known else "would_create"))
        return out

    # -- one record --------------------------------------------------------------------------------

    def _one(self, request: WriteRequest, policy: WritePolicy) -> Any:
        if request.target_id is not None:
            return self._update(request, request.target_id, policy)
        if request.intent is not None or self.adopt_without_intent:
            since = request.intent.recorded_at - _CLOCK_SKEW if request.intent else None
            found = self._find_ours(request, since)
            if isinstance(found, LoadResult):
                return found
            if found is not None:
                return self._update(request, self.record_id(found), policy, adopted=True)
        body = self.create_body(request.payload)
        self._created_since_index = True
        try:
            made = self.create(body, request.key)
        except TransientError:
            return _UNCERTAIN  # it may exist now: look before sending again
        return LoadResult(request.key, ok=True, target_id=self.record_id(made),
                          action="created", target_version=self.version(made), sent=body)

    def _update(self, request: WriteRequest, target_id: str, policy: WritePolicy, *,
                adopted: bool = False) -> LoadResult:
        key = request.key
        conflict = None
        for attempt in (1, 2):
            current = self.fetch(target_id, key)
            if current is None:
                return LoadResult(key, ok=False, conflict="missing",
                                  errors=((None, f"no longer in {self.system}"),))
            now_version = self.version(current)
            if (not adopted and request.target_version is not None
                    and now_version != request.target_version and attempt == 1):
                conflict = "changed"
                refused = self._on_conflict(request, target_id, now_version, policy)
                if refused is not None:
                    return refused
            mine = self.editable(current)
            body = overlay(mine, request.payload, policy.ownership, request.previous,
                           request.defaulted)
            if request.revive:
                body = self.revived(body)
            if body == mine:  # already as we want it (e.g. an earlier attempt landed)
                return LoadResult(key, ok=True, target_id=target_id, target_version=now_version,
                                  action="adopted" if adopted else "updated", sent=body,
                                  conflict=conflict)  # type: ignore[arg-type]
            try:
                answer = self.replace(target_id, body, current, key)
            except Rejected as exc:
                if exc.status == 404:
                    return LoadResult(key, ok=False, conflict="missing",
                                      errors=((None, f"no longer in {self.system}"),))
                if exc.status == 409 and attempt == 1:
                    continue  # someone wrote in between: read again and decide again
                raise
            version = self.version(answer) if answer else None
            if version is None:
                fresh = self.fetch(target_id, key)
                version = self.version(fresh) if fresh else None
            return LoadResult(key, ok=True, target_id=target_id, target_version=version,
                              action="adopted" if adopted else "updated", sent=body,
                              conflict=conflict)  # type: ignore[arg-type]
        raise ConnectorError("the record kept changing while we wrote it", system=self.system,
                             record=key)

    def _on_conflict(self, request: WriteRequest, target_id: str, version: str | None,
                     policy: WritePolicy) -> LoadResult | None:
        return on_conflict(request, target_id, version, policy, self.system)

    # -- records gone from the source -------------------------------------------------------------

    def deactivated(self, body: dict[str, Any]) -> dict[str, Any]:
        """The body of a record made inactive (only for targets with ``deactivate``)."""
        raise NotImplementedError

    def delete(self, target_id: str, key: str) -> None:
        """Delete one record (only for targets with ``delete``)."""
        raise NotImplementedError

    def retire(self, batch: Sequence[WriteRequest], *, how: str,
               policy: WritePolicy) -> list[LoadResult]:
        """Deactivate or delete each record; one already gone counts as done."""
        def one(request: WriteRequest) -> LoadResult:
            if request.target_id is None:
                return LoadResult(request.key, ok=False, errors=((None, "never linked"),))
            if how == "delete":
                try:
                    self.delete(request.target_id, request.key)
                except Rejected as exc:
                    if exc.status != 404:
                        raise
                return LoadResult(request.key, ok=True, target_id=request.target_id,
                                  action="deleted")
            current = self.fetch(request.target_id, request.key)
            if current is None:
                return LoadResult(request.key, ok=True, action="deactivated")
            mine = self.editable(current)
            body = self.deactivated(dict(mine))
            version = self.version(current)
            if body != mine:
                answer = self.replace(request.target_id, body, current, request.key)
                version = self.version(answer) if answer else None
            return LoadResult(request.key, ok=True, target_id=request.target_id,
                              action="deactivated", target_version=version, sent=body)

        return load_each(list(batch), lambda r: r.key, one,
                         concurrency=getattr(self.settings, "concurrency", 1))

    # -- identity ----------------------------------------------------------------------------------

    def _find_ours(self, request: WriteRequest,
                   since: datetime | None) -> Mapping[str, Any] | LoadResult | None:
        """The one unlinked record an earlier attempt of ours created, if exactly one matches."""
        if request.intent is not None and self._created_since_index:
            self._forget_index()  # a retry of our own batch: the index predates its creates
        fingerprint = request.intent.fingerprint if request.intent is not None else \
            {f: request.payload.get(f) for f in self.identity_fields}
        matches = [r for r in self._records() if self.same_identity(r, fingerprint)
                   and (since is None or (self.created_at(r) or since) >= since)]
        if len(matches) > 1:
            ids = ", ".join(self.record_id(r) for r in matches[:5])
            return LoadResult(request.key, ok=False, errors=((None, (
                f"{len(matches)} offerings in {self.system} match what an interrupted run was "
                f"creating ({ids}); refusing to guess which is ours")),))
        return matches[0] if matches else None

    def _records(self) -> list[Mapping[str, Any]]:
        with self._index_lock:
            if self._index is None:
                self._index = list(self.list_all())
            return self._index

    def _forget_index(self) -> None:
        with self._index_lock:
            self._index = None
            self._created_since_index = False


def pages_by_id(ids: Sequence[str], fetch: Callable[[str], Mapping[str, Any] | None], *,
                size: int = 100) -> Iterable[Any]:
    """``RecordReader.read_ids`` for APIs that read one record by id: pages of what exists."""
    from offering_sync.records import Page

    for start in range(0, len(ids), size):
        found = [record for record in (fetch(i) for i in ids[start:start + size])
                 if record is not None]
        if found:
            yield Page(found)
