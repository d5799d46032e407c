"""One lock per pipeline, so two runs of it never write at once, and a fence on every commit.

A lock held by a live process is never taken: on the holder's own host that means its process
exists (whatever its heartbeat says); across hosts, its heartbeat keeps beating (the engine
beats from a thread for the whole run, during sends and waits). Only a lock whose holder is
gone (same host, no such process) or silent for ``ttl_seconds`` (another host) is recovered.
Every batch commit checks that its run still holds the lock, in the same transaction, so a run
that lost it can never record a write over its successor's.
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from offering_sync.errors import LockHeld, LockLost
from offering_sync.state.base import StoreBase, aware, now
from offering_sync.state.tables import locks, runs

__all__ = ["LocksMixin", "holder_is_alive"]


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_is_alive(owner: str, beat: datetime, at: datetime, ttl: float) -> bool:
    """Whether the lock's holder may still be working (so its lock must not be taken)."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except (ProcessLookupError, OverflowError):
            return False
        except PermissionError:
            return True
        return True
    return at - beat <= timedelta(seconds=ttl)


class LocksMixin(StoreBase):
    """Pipeline locks with heartbeat and fencing."""

    def acquire_lock(self, pipeline: str, run_id: str, *, ttl_seconds: float) -> str | None:
        """Take the pipeline's lock; returns the run id of a dead holder it replaced.

        Raises:
            LockHeld: a live run holds it.
        """
        at = now()
        owner = _owner()
        with self._tx() as conn:
            row = conn.execute(select(locks).where(locks.c.pipeline == pipeline)).mappings().first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(locks).values(
                            pipeline=pipeline, run_id=run_id, owner=owner, acquired_at=at,
                            heartbeat_at=at))
                except IntegrityError:
                    raise LockHeld(f"another run of {pipeline} started just now") from None
                return None
            beat = aware(row["heartbeat_at"]) or at
            if holder_is_alive(row["owner"], beat, at, ttl_seconds):
                raise LockHeld(
                    f"pipeline {pipeline} is being synced by run {row['run_id']} "
                    f"({row['owner']}, last heartbeat {beat:%Y-%m-%d %H:%M:%S}Z); wait for it "
                    "to finish (a lock whose process is gone, or whose heartbeat from another "
                    f"host stopped for {ttl_seconds:.0f}s, is recovered)")
            taken = conn.execute(update(locks).where(
                locks.c.pipeline == pipeline, locks.c.run_id == row["run_id"]).values(
                run_id=run_id, owner=owner, acquired_at=at, heartbeat_at=at)).rowcount
            if taken != 1:
                raise LockHeld(f"another run of {pipeline} took the stale lock first")
            conn.execute(update(runs).where(runs.c.id == row["run_id"],
                                            runs.c.status == "running")
                         .values(status="interrupted", finished_at=at,
                                 message="process died; lock recovered by " + run_id))
            return str(row["run_id"])

    def heartbeat(self, pipeline: str, run_id: str) -> bool:
        """Prove the lock holder is alive; False when the lock is no longer ours."""
        with self._tx() as conn:
            return bool(conn.execute(update(locks).where(
                locks.c.pipeline == pipeline, locks.c.run_id == run_id)
                .values(heartbeat_at=now())).rowcount)

    def release_lock(self, pipeline: str, run_id: str) -> None:
        """Give the lock back (only if we still hold it)."""
        with self._tx() as conn:
            conn.execute(delete(locks).where(locks.c.pipeline == pipeline,
                                             locks.c.run_id == run_id))

    @staticmethod
    def _fence(conn: Connection, pipeline: str, run_id: str) -> None:
        """Inside a commit: refuse to record anything for a run that lost its lock."""
        holder = conn.execute(select(locks.c.run_id).where(locks.c.pipeline == pipeline)
                              ).scalar_one_or_none()
        if holder != run_id:
            raise LockLost(f"run {run_id} no longer holds the lock of {pipeline} (now: "
                           f"{holder or 'nobody'}); it stops without recording more")
