"""Dead letters: records that could not be extracted, mapped, validated or loaded.

They are also the index of failed keys the engine retries on later runs: each carries how many
attempts it had, from which run of its pipeline it is due again (backing off), the hash of the
source record (a mapping failure is retried only when the record changed) and whether it is
parked for a human.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update

from offering_sync.state.base import aware, now
from offering_sync.state.links import LinksMixin, chunks
from offering_sync.state.tables import dead_letters

__all__ = ["DeadLetter", "DeadLettersMixin"]


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
    attempts: int = 1
    retry_at_run: int | None = None
    raw_hash: str | None = None
    parked: bool = False


class DeadLettersMixin(LinksMixin):
    """Reading, counting, resolving and scheduling dead letters."""

    def dead_letters(self, *, pipeline: str | None = None, unresolved_only: bool = True,
                     ids: Sequence[int] | None = None, run_id: str | None = None,
                     stage: str | None = None, field: str | None = None,
                     limit: int = 1000, offset: int = 0) -> list[DeadLetter]:
        """Dead letters, oldest first, paged with ``limit``/``offset``."""
        query = self._dead_query(select(dead_letters), pipeline, unresolved_only, ids, run_id,
                                 stage, field).order_by(dead_letters.c.id)
        with self._tx() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).mappings().all()
        return [_letter(r) for r in rows]

    def count_dead_letters(self, *, pipeline: str | None = None, unresolved_only: bool = True,
                           run_id: str | None = None, stage: str | None = None,
                           field: str | None = None) -> int:
        """How many dead letters match (for totals beside a page of them)."""
        query = self._dead_query(select(func.count()).select_from(dead_letters), pipeline,
                                 unresolved_only, None, run_id, stage, field)
        with self._tx() as conn:
            return int(conn.execute(query).scalar_one())

    @staticmethod
    def _dead_query(query: Select[Any], pipeline: str | None, unresolved_only: bool,
                    ids: Sequence[int] | None, run_id: str | None, stage: str | None,
                    field: str | None) -> Select[Any]:
        if run_id:
            query = query.where(dead_letters.c.run_id == run_id)
        if pipeline:
            query = query.where(dead_letters.c.pipeline == pipeline)
        if unresolved_only:
            query = query.where(dead_letters.c.resolved_at.is_(None))
        if ids:
            query = query.where(dead_letters.c.id.in_(list(ids)))
        if stage:
            query = query.where(dead_letters.c.stage == stage)
        if field:
            query = query.where(dead_letters.c.field == field)
        return query

    def open_failures(self, pipeline: str, source_ids: Sequence[str]) -> dict[str, DeadLetter]:
        """The open dead letter of each of these records, if any (for attempt counting)."""
        found: dict[str, DeadLetter] = {}
        with self._tx() as conn:
            for chunk in chunks(list(dict.fromkeys(source_ids))):
                for row in conn.execute(select(dead_letters).where(
                        dead_letters.c.pipeline == pipeline,
                        dead_letters.c.resolved_at.is_(None),
                        dead_letters.c.source_id.in_(chunk))).mappings():
                    found[row["source_id"]] = _letter(row)
        return found

    def due_retries(self, pipeline: str, run_number: int, *, limit: int = 10_000,
                    ) -> list[DeadLetter]:
        """Open, unparked dead letters of ``pipeline`` due at this run number."""
        with self._tx() as conn:
            rows = conn.execute(select(dead_letters).where(
                dead_letters.c.pipeline == pipeline, dead_letters.c.resolved_at.is_(None),
                dead_letters.c.parked.is_(False), dead_letters.c.source_id.is_not(None),
                or_(dead_letters.c.retry_at_run.is_(None),
                    dead_letters.c.retry_at_run <= run_number),
            ).order_by(dead_letters.c.id).limit(limit)).mappings().all()
        return [_letter(r) for r in rows]

    def resolve_dead_letters(self, pipeline: str, source_ids: Sequence[str], run_id: str) -> None:
        """Close the open dead letters of records that need no further work."""
        at = now()
        with self._tx() as conn:
            for chunk in chunks(list(source_ids)):
                conn.execute(update(dead_letters).where(
                    dead_letters.c.pipeline == pipeline, dead_letters.c.resolved_at.is_(None),
                    dead_letters.c.source_id.in_(chunk),
                ).values(resolved_at=at, resolved_by_run=run_id))

    def unpark(self, pipeline: str | None, ids: Sequence[int] | None = None) -> int:
        """Let parked dead letters be retried again from the next run; returns how many."""
        query = update(dead_letters).where(dead_letters.c.resolved_at.is_(None),
                                           dead_letters.c.parked.is_(True))
        if pipeline:
            query = query.where(dead_letters.c.pipeline == pipeline)
        if ids:
            query = query.where(dead_letters.c.id.in_(list(ids)))
        with self._tx() as conn:
            return int(conn.execute(query.values(parked=False, retry_at_run=None,
                                                 attempts=0)).rowcount)


def _letter(r: Any) -> DeadLetter:
    return DeadLetter(id=r["id"], run_id=r["run_id"], pipeline=r["pipeline"], stage=r["stage"],
                      source_id=r["source_id"], external_id=r["external_id"], field=r["field"],
                      error=r["error"], payload=r["payload"],
                      created_at=aware(r["created_at"]) or now(),
                      resolved_at=aware(r["resolved_at"]), attempts=r["attempts"] or 1,
                      retry_at_run=r["retry_at_run"], raw_hash=r["raw_hash"],
                      parked=bool(r["parked"]))
