"""Run history and cursors: who ran what, when, with which outcome; watermarks per pipeline."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select, update

from offering_sync.state.base import StoreBase, aware, now
from offering_sync.state.tables import cursors, runs

__all__ = ["COUNTS", "RunRecord", "RunsMixin"]

COUNTS = ("extracted", "created", "updated", "unchanged", "failed")


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
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """How long the run took (None while it runs)."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class RunsMixin(StoreBase):
    """Runs and cursors."""

    def start_run(self, pipeline: str, source: str, target: str, mode: str,
                  params: Mapping[str, Any]) -> str:
        """Record a new run as ``running`` and return its id."""
        run_id = str(uuid.uuid4())
        with self._tx(check=True) as conn:
            conn.execute(insert(runs).values(
                id=run_id, pipeline=pipeline, source=source, target=target, mode=mode,
                params=json.dumps(params, default=str, sort_keys=True), started_at=now(),
                status="running", **dict.fromkeys(COUNTS, 0)))
        return run_id

    def finish_run(self, run_id: str, status: str, counts: Mapping[str, int],
                   message: str | None = None) -> None:
        """Close a run with its outcome and totals (extra counts go to ``details``)."""
        extra = {k: v for k, v in counts.items() if k not in COUNTS}
        with self._tx(check=True) as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(
                status=status, finished_at=now(), message=message,
                details=json.dumps(extra, sort_keys=True) if extra else None,
                **{k: counts.get(k, 0) for k in COUNTS}))

    def runs(self, *, pipeline: str | None = None, limit: int = 20) -> list[RunRecord]:
        """Newest runs first."""
        query = select(runs).order_by(runs.c.started_at.desc()).limit(limit)
        if pipeline:
            query = query.where(runs.c.pipeline == pipeline)
        with self._tx() as conn:
            rows = conn.execute(query).mappings().all()
        return [_run_record(r) for r in rows]

    def run(self, run_id: str) -> RunRecord | None:
        """One run by id (or by a unique prefix of at least 6 characters)."""
        with self._tx() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None and len(run_id) >= 6:
                found = conn.execute(select(runs).where(runs.c.id.startswith(run_id))
                                     .limit(2)).mappings().all()
                row = found[0] if len(found) == 1 else None
        return None if row is None else _run_record(row)

    def pipelines(self) -> list[str]:
        """Every pipeline that has run here."""
        with self._tx() as conn:
            return sorted(conn.execute(select(runs.c.pipeline).distinct()).scalars())

    def run_number(self, pipeline: str) -> int:
        """How many runs this pipeline has started (the current run included)."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(runs)
                                    .where(runs.c.pipeline == pipeline)).scalar_one())

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
                                                    updated_at=now()))


def _run_record(r: RowMapping) -> RunRecord:
    details = json.loads(r["details"]) if r.get("details") else {}
    return RunRecord(id=r["id"], pipeline=r["pipeline"], source=r["source"], target=r["target"],
                     mode=r["mode"], status=r["status"],
                     started_at=aware(r["started_at"]) or now(),
                     finished_at=aware(r["finished_at"]), counts={k: r[k] for k in COUNTS},
                     message=r["message"], details=details)
