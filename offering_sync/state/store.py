"""StateStore: the only code that writes SQL. SQLite by default, any SQLAlchemy URL.

Opening a store runs the Alembic migrations to head. Every batch's links and dead letters are
written in one transaction, after the target confirmed them, so a crash loses at most the work
of the batch in flight and never records a write that did not happen.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    RowMapping,
    create_engine,
    delete,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from offering_sync.errors import LockHeld, StateError
from offering_sync.state.tables import cursors, dead_letters, links, locks, runs

__all__ = ["DeadLetter", "Link", "RunRecord", "StateStore"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x0FF3_5EED  # the advisory lock that serialises migrations on PostgreSQL
_COUNTS = ("extracted", "created", "updated", "unchanged", "failed")


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Link:
    """What we know about one source record in one target."""

    source_id: str
    external_id: str
    target_id: str | None
    content_hash: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be extracted, mapped, validated or loaded."""

    id: int
    run_id: str
    pipeline: str
    stage: str
    source_id: str | None
    external_id: str | None
    field: str | None
    error: str
    payload: str | None
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One row of run history."""

    id: str
    pipeline: str
    source: str
    target: str
    mode: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    counts: dict[str, int]
    message: str | None


class StateStore:
    """Runs, cursors, record links, dead letters and locks behind one SQLAlchemy URL."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        try:
            self.engine: Engine = _make_engine(url)
            if migrate:
                self.migrate()
        except SQLAlchemyError as exc:
            raise StateError(f"state store {_safe_url(url)} is not usable: "
                             f"{exc.__class__.__name__}: {exc.args[0] if exc.args else ''}"
                             ) from None

    # -- lifecycle ------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision, one process at a time.

        Workers starting together on a new database would otherwise race to create the same
        tables: PostgreSQL takes an advisory lock, SQLite a lock file beside the database.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with _migration_lock(self.engine), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Dispose of pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except OperationalError as exc:
            raise StateError(f"state store {_safe_url(self.url)}: {exc.orig}") from None

    # -- runs -----------------------------------------------------------------------------------

    def start_run(self, pipeline: str, source: str, target: str, mode: str,
                  params: Mapping[str, Any]) -> str:
        """Record a new run as ``running`` and return its id."""
        run_id = str(uuid.uuid4())
        with self._tx() as conn:
            conn.execute(insert(runs).values(
                id=run_id, pipeline=pipeline, source=source, target=target, mode=mode,
                params=json.dumps(params, default=str, sort_keys=True), started_at=_now(),
                status="running", **dict.fromkeys(_COUNTS, 0)))
        return run_id

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, int],
                   message: str | None = None) -> None:
        """Close a run with its outcome and totals."""
        with self._tx() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, finished_at=_now(), message=message,
                **{k: counts[k] for k in _COUNTS}))

    def runs(self, *, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Newest runs first."""
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        with self._tx() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
        return None if row is None else _run_record(row)

    # -- cursors --------------------------------------------------------------------------------

    def get_cursor(self, pipeline: str, name: str) -> str | None:
        """The stored value of a pipeline's cursor (e.g. a watermark), if any."""
        with self._tx() as conn:
            return conn.execute(select(cursors.c.value).where(
                cursors.c.pipeline == pipeline, cursors.c.name == name)).scalar_one_or_none()

    def set_cursor(self, pipeline: str, name: str, value: str | None) -> None:
        """Store (or clear, with ``None``) a pipeline's cursor."""
        with self._tx() as conn:
            conn.execute(delete(cursors).where(cursors.c.pipeline == pipeline,
                                               cursors.c.name == name))
            if value is not None:
                conn.execute(insert(cursors).values(pipeline=pipeline, name=name, value=value,
                                                    updated_at=_now()))

    # -- record links ---------------------------------------------------------------------------

    def links_for(self, source: str, target: str, source_ids: Iterable[str]) -> dict[str, Link]:
        """Links of these source records (one query per call; pass a page's ids)."""
        ids = list(dict.fromkeys(source_ids))
        found: dict[str, Link] = {}
        with self._tx() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                rows = conn.execute(select(
                    links.c.source_id, links.c.external_id, links.c.target_id,
                    links.c.content_hash).where(
                    links.c.source_system == source, links.c.target_system == target,
                    links.c.source_id.in_(chunk)))
                for sid, ext, tid, digest in rows:
                    found[sid] = Link(sid, ext, tid, digest)
        return found

    def forget_links(self, source: str, target: str, source_ids: Sequence[str]) -> None:
        """Drop links so the next sync treats these records as never sent.

        The next sync then finds them by external ID, so nothing is duplicated.
        """
        with self._tx() as conn:
            for start in range(0, len(source_ids), 500):
                conn.execute(delete(links).where(
                    links.c.source_system == source, links.c.target_system == target,
                    links.c.source_id.in_(list(source_ids[start:start + 500]))))

    def record_batch(self, *, run_id: str, pipeline: str, source: str, target: str,
                     loaded: Sequence[Link], failed: Sequence[Mapping[str, Any]],
                     counts: Mapping[str, int] | None = None) -> None:
        """Write one batch's confirmed links, its dead letters and the run totals atomically."""
        now = _now()
        with self._tx() as conn:
            if loaded:
                rows = [{"source_system": source, "target_system": target,
                         "source_id": link.source_id, "external_id": link.external_id,
                         "target_id": link.target_id, "content_hash": link.content_hash,
                         "run_id": run_id, "updated_at": now} for link in loaded]
                self._upsert_links(conn, rows)
                ok_ids = [link.source_id for link in loaded if link.content_hash]
                for start in range(0, len(ok_ids), 500):
                    conn.execute(update(dead_letters).where(
                        dead_letters.c.pipeline == pipeline,
                        dead_letters.c.resolved_at.is_(None),
                        dead_letters.c.source_id.in_(ok_ids[start:start + 500]),
                    ).values(resolved_at=now, resolved_by_run=run_id))
            if failed:
                # One open dead letter per record: a newer failure replaces the older one.
                again = [f["source_id"] for f in failed if f.get("source_id")]
                for start in range(0, len(again), 500):
                    conn.execute(delete(dead_letters).where(
                        dead_letters.c.pipeline == pipeline,
                        dead_letters.c.resolved_at.is_(None),
                        dead_letters.c.source_id.in_(again[start:start + 500])))
                conn.execute(insert(dead_letters), [
                    {"run_id": run_id, "pipeline": pipeline, "created_at": now,
                     "stage": f["stage"], "source_id": f.get("source_id"),
                     "external_id": f.get("external_id"), "field": f.get("field"),
                     "error": f["error"], "payload": f.get("payload")} for f in failed])
            if counts is not None:
                conn.execute(update(runs).where(runs.c.id == run_id)
                             .values(**{k: counts[k] for k in _COUNTS}))

    def _upsert_links(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        dialect = conn.dialect.name
        keys = ["source_system", "target_system", "source_id"]
        changing = ["external_id", "target_id", "content_hash", "run_id", "updated_at"]
        if dialect in ("sqlite", "postgresql"):
            make = sqlite_insert if dialect == "sqlite" else pg_insert
            stmt = make(links)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=keys, set_={c: stmt.excluded[c] for c in changing}), rows)
            return
        for row in rows:  # other databases: portable, slower
            where = [links.c[k] == row[k] for k in keys]
            if conn.execute(update(links).where(*where)
                            .values({c: row[c] for c in changing})).rowcount == 0:
                conn.execute(insert(links).values(row))

    # -- dead letters ---------------------------------------------------------------------------

    def dead_letters(self, *, pipeline: str | None = None, unresolved_only: bool = True,
                     ids: Sequence[int] | None = None, run_id: str | None = None,
                     limit: int = 1000) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        query = select(dead_letters).order_by(dead_letters.c.id).limit(limit)
        if run_id:
            query = query.where(dead_letters.c.run_id == run_id)
        if pipeline:
            query = query.where(dead_letters.c.pipeline == pipeline)
        if unresolved_only:
            query = query.where(dead_letters.c.resolved_at.is_(None))
        if ids:
            query = query.where(dead_letters.c.id.in_(list(ids)))
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [DeadLetter(id=r["id"], run_id=r["run_id"], pipeline=r["pipeline"],
                           stage=r["stage"], source_id=r["source_id"],
                           external_id=r["external_id"], field=r["field"], error=r["error"],
                           payload=r["payload"], created_at=_aware(r["created_at"]) or _now(),
                           resolved_at=_aware(r["resolved_at"])) for r in rows]

    def resolve_dead_letters(self, pipeline: str, source_ids: Sequence[str], run_id: str) -> None:
        """Close the open dead letters of records that need no further work."""
        now = _now()
        with self._tx() as conn:
            for start in range(0, len(source_ids), 500):
                conn.execute(update(dead_letters).where(
                    dead_letters.c.pipeline == pipeline, dead_letters.c.resolved_at.is_(None),
                    dead_letters.c.source_id.in_(list(source_ids[start:start + 500])),
                ).values(resolved_at=now, resolved_by_run=run_id))

    # -- locks ----------------------------------------------------------------------------------

    def acquire_lock(self, pipeline: str, run_id: str, *, ttl_seconds: float) -> str | None:
        """Take the pipeline's lock; returns the run id of a stale holder it replaced.

        Raises:
            LockHeld: a live run holds it (heartbeat younger than ``ttl_seconds`` and, on this
                host, its process still exists).
        """
        now = _now()
        owner = _owner()
        with self._tx() as conn:
            row = conn.execute(select(locks).where(locks.c.pipeline == pipeline)).mappings().first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(locks).values(
                            pipeline=pipeline, run_id=run_id, owner=owner, acquired_at=now,
                            heartbeat_at=now))
                except IntegrityError:
                    raise LockHeld(f"another run of {pipeline} started just now") from None
                return None
            beat = _aware(row["heartbeat_at"]) or now
            if not _is_stale(row["owner"], beat, now, ttl_seconds):
                raise LockHeld(
                    f"pipeline {pipeline} is being synced by run {row['run_id']} "
                    f"({row['owner']}, last heartbeat {beat:%Y-%m-%d %H:%M:%S}Z); wait for it "
                    f"to finish, or for its lock to expire after {ttl_seconds:.0f}s")
            taken = conn.execute(update(locks).where(
                locks.c.pipeline == pipeline, locks.c.run_id == row["run_id"]).values(
                run_id=run_id, owner=owner, acquired_at=now, heartbeat_at=now)).rowcount
            if taken != 1:
                raise LockHeld(f"another run of {pipeline} took the stale lock first")
            conn.execute(update(runs).where(runs.c.id == row["run_id"],
                                            runs.c.status == "running")
                         .values(status="interrupted", finished_at=now,
                                 message="process died; lock recovered by " + run_id))
            return str(row["run_id"])

    def heartbeat(self, pipeline: str, run_id: str) -> None:
        """Prove the lock holder is alive."""
        with self._tx() as conn:
            conn.execute(update(locks).where(locks.c.pipeline == pipeline,
                                             locks.c.run_id == run_id)
                         .values(heartbeat_at=_now()))

    def release_lock(self, pipeline: str, run_id: str) -> None:
        """Give the lock back (only if we still hold it)."""
        with self._tx() as conn:
            conn.execute(delete(locks).where(locks.c.pipeline == pipeline,
                                             locks.c.run_id == run_id))


def _run_record(r: RowMapping) -> RunRecord:
    return RunRecord(id=r["id"], pipeline=r["pipeline"], source=r["source"], target=r["target"],
                     mode=r["mode"], status=r["status"],
                     started_at=_aware(r["started_at"]) or _now(),
                     finished_at=_aware(r["finished_at"]), counts={k: r[k] for k in _COUNTS},
                     message=r["message"])


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _is_stale(owner: str, beat: datetime, now: datetime, ttl: float) -> bool:
    if now - beat > timedelta(seconds=ttl):
        return True
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, OverflowError):
            return True
        except PermissionError:
            return False
    return False


def _safe_url(url: str) -> str:
    """The URL without its password."""
    head, sep, tail = url.partition("://")
    if "@" in tail and ":" in tail.split("@", 1)[0]:
        user = tail.split("@", 1)[0].split(":", 1)[0]
        return f"{head}{sep}{user}:***@{tail.split('@', 1)[1]}"
    return url
