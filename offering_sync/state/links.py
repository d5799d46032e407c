"""Record links (source id ↔ external id ↔ target id), create intents, and batch commits.

A link remembers what we last wrote (content hash), what the target said after (its version),
the source's version marker, the last run that saw the record in the source, and its state
(``active``, ``missing``, ``deactivated``, ``deleted``). A batch's links, dead letters, sync-log
rows and run totals are committed in one transaction, fenced by the pipeline lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from offering_sync.state.base import aware, now
from offering_sync.state.locks import LocksMixin
from offering_sync.state.runs import COUNTS
from offering_sync.state.tables import dead_letters, intents, links, runs, sync_log

__all__ = ["Intent", "Link", "LinksMixin", "LogEntry"]

_CHUNK = 500
_LOG_PAYLOAD_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class Link:
    """What we know about one source record in one target."""

    source_id: str
    external_id: str
    target_id: str | None
    content_hash: str | None
    target_version: str | None = None
    source_version: str | None = None
    state: str = "active"


@dataclass(frozen=True, slots=True)
class Intent:
    """A create we were about to send: proof, after a crash, that an unlinked record is ours."""

    external_id: str
    fingerprint: dict[str, Any]
    created_at: datetime
    run_id: str


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One row of the sync log: what a run did to one record."""

    source_id: str | None
    external_id: str | None
    target_id: str | None
    operation: str  # create, update, adopt, deactivate, delete, conflict, fail
    status: str  # ok, failed, skipped
    content_hash: str | None = None
    payload: str | None = None
    error: str | None = None


# The statements every page runs, built once: building one per call (clauses, coercions,
# its cache key) was about half a no-op re-sync's state-store time (issue 17).
_PIPELINE = and_(links.c.source_system == bindparam("source"),
                 links.c.target_system == bindparam("target"))
_LINKS_BY = {name: select(links).where(_PIPELINE, links.c[name].in_(
    bindparam("ids", expanding=True))) for name in ("source_id", "target_id")}
_ANY_LINK = select(links.c.source_id).where(_PIPELINE).limit(1)
_MARK_SEEN = update(links).where(_PIPELINE, links.c.source_id.in_(
    bindparam("ids", expanding=True))).values(seen_run=bindparam("run"))


def chunks(values: Sequence[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    """``values`` in lists of at most ``size`` (bounded IN clauses)."""
    for start in range(0, len(values), size):
        yield list(values[start:start + size])


class LinksMixin(LocksMixin):
    """Links, intents and the batch commit."""

    def links_for(self, source: str, target: str, source_ids: Iterable[str]) -> dict[str, Link]:
        """Links of these source records (one query per 500 ids; pass a page's ids)."""
        return self._links_by(links.c.source_id, source, target, source_ids)

    def links_by_target(self, source: str, target: str,
                        target_ids: Iterable[str]) -> dict[str, Link]:
        """``target_id → Link`` for the given target records that we created or adopted."""
        return self._links_by(links.c.target_id, source, target, target_ids)

    def _links_by(self, column: Any, source: str, target: str,
                  values: Iterable[str]) -> dict[str, Link]:
        """The pipeline's links whose ``column`` is one of ``values``, keyed by that value."""
        ids = list(dict.fromkeys(values))
        found: dict[str, Link] = {}
        statement = _LINKS_BY[column.name]
        with self._tx() as conn:
            for chunk in chunks(ids):
                rows = conn.execute(statement, {"source": source, "target": target,
                                                "ids": chunk}).mappings()
                for row in rows:
                    found[row[column.name]] = _link(row)
        return found

    def written_by(self, source: str, target: str, ids: Sequence[str]) -> set[str]:
        """The records among ``ids`` of ``source`` that the reverse pipeline wrote there.

        In a two-way sync (``source → target`` and ``target → source``) they are copies of the
        target's own offerings: sending them back would create each offering again, for ever.
        Most pipelines are one-way: one cheap query per page says whether a reverse pipeline
        has written anything at all before the ids are looked up.
        """
        with self._tx() as conn:
            reverse = conn.execute(_ANY_LINK, {"source": target, "target": source}).first()
        return set(self.links_by_target(target, source, ids)) if reverse is not None else set()

    def links_by_external(self, source: str, target: str,
                          external_ids: Iterable[str]) -> dict[str, str]:
        """``external_id → source_id`` for the given external ids that are linked already."""
        ids = list(dict.fromkeys(external_ids))
        found: dict[str, str] = {}
        with self._tx() as conn:
            for chunk in chunks(ids):
                for ext, sid in conn.execute(select(links.c.external_id, links.c.source_id).where(
                        links.c.source_system == source, links.c.target_system == target,
                        links.c.external_id.in_(chunk))):
                    found[ext] = sid
        return found

    def forget_links(self, source: str, target: str, source_ids: Sequence[str]) -> None:
        """Drop links so the next sync treats these records as never sent.

        The next sync then finds them by external ID, so nothing is duplicated.
        """
        with self._tx() as conn:
            for chunk in chunks(source_ids):
                conn.execute(delete(links).where(
                    links.c.source_system == source, links.c.target_system == target,
                    links.c.source_id.in_(chunk)))

    # -- seen / missing -------------------------------------------------------------------------

    def mark_seen(self, source: str, target: str, run_id: str, source_ids: Sequence[str]) -> None:
        """Note that this run saw these records in the source (for delete detection)."""
        with self._tx() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                conn.execute(_MARK_SEEN, {"source": source, "target": target, "ids": chunk,
                                          "run": run_id})

    def unseen_links(self, source: str, target: str, run_id: str, *, after: str = "",
                     limit: int = 500, states: Sequence[str] = ("active",)) -> list[Link]:
        """Linked records this run did not see in the source, in source-id order, paged."""
        with self._tx() as conn:
            rows = conn.execute(select(links).where(
                links.c.source_system == source, links.c.target_system == target,
                links.c.state.in_(list(states)), links.c.source_id > after,
                or_(links.c.seen_run.is_(None), links.c.seen_run != run_id),
            ).order_by(links.c.source_id).limit(limit)).mappings().all()
        return [_link(r) for r in rows]

    def count_links(self, source: str, target: str, states: Sequence[str] = ("active",)) -> int:
        """How many links the pipeline has in these states."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(links).where(
                links.c.source_system == source, links.c.target_system == target,
                links.c.state.in_(list(states)))).scalar_one())

    # -- create intents -------------------------------------------------------------------------

    def record_intents(self, pipeline: str, run_id: str,
                       wanted: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        """Before creating in a target with no upsert key: remember what is being created."""
        if not wanted:
            return
        at = now()
        with self._tx() as conn:
            self._fence(conn, pipeline, run_id)
            for chunk in chunks([ext for ext, _ in wanted]):
                conn.execute(delete(intents).where(intents.c.pipeline == pipeline,
                                                   intents.c.external_id.in_(chunk)))
            conn.execute(insert(intents), [
                {"pipeline": pipeline, "external_id": ext, "run_id": run_id, "created_at": at,
                 "fingerprint": json.dumps(dict(fp), sort_keys=True, default=str)}
                for ext, fp in wanted])

    def open_intents(self, pipeline: str, external_ids: Iterable[str]) -> dict[str, Intent]:
        """Intents left by runs that did not record the outcome (a crash between send and commit)."""
        ids = list(dict.fromkeys(external_ids))
        found: dict[str, Intent] = {}
        with self._tx() as conn:
            for chunk in chunks(ids):
                for row in conn.execute(select(intents).where(
                        intents.c.pipeline == pipeline,
                        intents.c.external_id.in_(chunk))).mappings():
                    found[row["external_id"]] = Intent(
                        row["external_id"], json.loads(row["fingerprint"]),
                        aware(row["created_at"]) or now(), row["run_id"])
        return found

    # -- the batch commit -----------------------------------------------------------------------

    def record_batch(self, *, run_id: str, pipeline: str, source: str, target: str,
                     loaded: Sequence[Link], failed: Sequence[Mapping[str, Any]],
                     counts: Mapping[str, int] | None = None,
                     log: Sequence[LogEntry] = (), settle: Sequence[str] = (),
                     fenced: bool = True, has_intents: bool = True,
                     resolve: bool = True, sent: Mapping[str, str] | None = None) -> None:
        """Write one batch's confirmed links, dead letters, log rows and totals atomically.

        ``settle`` names external ids whose create intents are resolved either way. With
        ``fenced`` (the default) the commit is refused when the run lost its lock. A caller
        that knows there is nothing to clear skips those statements: ``has_intents=False`` when
        the pipeline never records create intents (a target with an upsert key), ``resolve=False``
        when the pipeline has no open dead letter to resolve. ``sent`` (source id → canonical
        JSON) is what a pipeline with list merges wrote; it is kept on the link for the next
        merge (``last_sent``).
        """
        at = now()
        with self._tx(write=True) as conn:
            if fenced:
                self._fence(conn, pipeline, run_id)
            if loaded:
                self._upsert_links(conn, [_link_row(link, source, target, run_id, at, sent)
                                          for link in loaded])
                ok_ids = [link.source_id for link in loaded if link.content_hash]
                for chunk in chunks(ok_ids if resolve else []):
                    conn.execute(update(dead_letters).where(
                        dead_letters.c.pipeline == pipeline,
                        dead_letters.c.resolved_at.is_(None),
                        dead_letters.c.source_id.in_(chunk),
                    ).values(resolved_at=at, resolved_by_run=run_id))
            if failed:
                _replace_dead_letters(conn, run_id, pipeline, failed, at)
            settled = list(settle) + [link.external_id for link in loaded] if has_intents else []
            for chunk in chunks(settled):
                conn.execute(delete(intents).where(intents.c.pipeline == pipeline,
                                                   intents.c.external_id.in_(chunk)))
            if log:
                conn.execute(insert(sync_log), [_log_row(e, run_id, pipeline, at) for e in log])
            if counts is not None:
                conn.execute(update(runs).where(runs.c.id == run_id)
                             .values(**{k: counts[k] for k in COUNTS if k in counts}))

    def set_link_state(self, source: str, target: str, source_ids: Sequence[str], state: str,
                       run_id: str) -> None:
        """Mark links missing, deactivated, deleted or active again."""
        with self._tx() as conn:
            for chunk in chunks(source_ids):
                conn.execute(update(links).where(
                    links.c.source_system == source, links.c.target_system == target,
                    links.c.source_id.in_(chunk)).values(state=state, run_id=run_id,
                                                         updated_at=now()))

    @staticmethod
    def _upsert_links(conn: Connection, rows: list[dict[str, Any]]) -> None:
        keys = ["source_system", "target_system", "source_id"]
        changing = ["external_id", "target_id", "content_hash", "run_id", "updated_at",
                    "target_version", "source_version", "state", "seen_run"]
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            make = sqlite_insert if dialect == "sqlite" else pg_insert
            stmt = make(links)
            values: dict[str, Any] = {c: stmt.excluded[c] for c in changing}
            # a commit that carries no payload (a version refresh, a failed write) keeps ours
            values["sent_payload"] = func.coalesce(stmt.excluded.sent_payload,
                                                   links.c.sent_payload)
            conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=values), rows)
            return
        for row in rows:  # other databases: portable, slower
            where = and_(*(links.c[k] == row[k] for k in keys))
            changed = {c: row[c] for c in changing}
            if row["sent_payload"] is not None:
                changed["sent_payload"] = row["sent_payload"]
            if conn.execute(update(links).where(where).values(changed)).rowcount == 0:
                conn.execute(insert(links).values(row))


def _link(row: Any) -> Link:
    return Link(row["source_id"], row["external_id"], row["target_id"], row["content_hash"],
                row["target_version"], row["source_version"], row["state"] or "active")


def _link_row(link: Link, source: str, target: str, run_id: str, at: datetime,
              sent: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"source_system": source, "target_system": target, "source_id": link.source_id,
            "external_id": link.external_id, "target_id": link.target_id,
            "content_hash": link.content_hash, "run_id": run_id, "updated_at": at,
            "target_version": link.target_version, "source_version": link.source_version,
            "state": link.state, "seen_run": run_id,
            "sent_payload": sent.get(link.source_id) if sent and link.content_hash else None}


def _replace_dead_letters(conn: Connection, run_id: str, pipeline: str,
                          failed: Sequence[Mapping[str, Any]], at: datetime) -> None:
    """One open dead letter per record: a newer failure replaces the older one."""
    again = [f["source_id"] for f in failed if f.get("source_id")]
    for chunk in chunks(again):
        conn.execute(delete(dead_letters).where(
            dead_letters.c.pipeline == pipeline, dead_letters.c.resolved_at.is_(None),
            dead_letters.c.source_id.in_(chunk)))
    conn.execute(insert(dead_letters), [
        {"run_id": run_id, "pipeline": pipeline, "created_at": at, "stage": f["stage"],
         "source_id": f.get("source_id"), "external_id": f.get("external_id"),
         "field": f.get("field"), "error": f["error"], "payload": f.get("payload"),
         "attempts": f.get("attempts", 1), "retry_at_run": f.get("retry_at_run"),
         "raw_hash": f.get("raw_hash"), "parked": bool(f.get("parked", False))}
        for f in failed])


def _log_row(entry: LogEntry, run_id: str, pipeline: str, at: datetime) -> dict[str, Any]:
    payload = entry.payload
    if payload is not None and len(payload) > _LOG_PAYLOAD_CHARS:
        payload = payload[:_LOG_PAYLOAD_CHARS] + "…(cut)"
    return {"run_id": run_id, "pipeline": pipeline, "source_id": entry.source_id,
            "external_id": entry.external_id, "target_id": entry.target_id,
            "operation": entry.operation, "status": entry.status,
            "content_hash": entry.content_hash, "payload": payload, "error": entry.error,
            "created_at": at}
