"""Run summaries as Prefect artifacts: counts, dead letters (no payloads) and progress."""

from __future__ import annotations

import re
import time
from typing import Any
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from offering_sync.engine import RunSummary
from offering_sync.flows.outcome import counts_of

__all__ = ["Progress", "artifact_key", "publish_summary", "reason"]

_RECORD_PREFIX = re.compile(r"^record [^:]*: ")


def artifact_key(pipeline: str, what: str) -> str:
    """``digitalchalk-salesforce-<what>``: artifact keys allow only lowercase, digits, dashes."""
    slug = "".join(c if c.isalnum() else "-" for c in pipeline.lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{slug}-{what}"


def reason(error: str, source_id: str | None) -> str:
    """The dead letter's reason without a leading ``record <id>: `` (the row shows the id)."""
    if source_id and error.startswith(f"record {source_id}: "):
        return error[len(f"record {source_id}: "):]
    return _RECORD_PREFIX.sub("", error, count=1)


def publish_summary(summary: RunSummary) -> None:
    """Table of counts, and, when records failed, a table of their dead letters."""
    data = summary.as_dict()
    counts = counts_of(data)
    failed = counts.get("failed", 0)
    row: dict[str, Any] = {"run_id": summary.run_id, "status": summary.status, **counts,
                           "batches": summary.batches, "seconds": round(summary.seconds, 2),
                           "dry_run": summary.dry_run,
                           "warning": (f"{failed} records not synced: see the dead-letters "
                                       "artifact") if failed else ""}
    create_table_artifact(table=[row], key=artifact_key(summary.pipeline, "run-summary"),
                          description=f"{summary.pipeline}: what this run did")
    if summary.dead_letters:
        rows = [{"id": d["id"], "stage": d["stage"], "source_id": d["source_id"],
                 "field": d["field"], "error": reason(str(d["error"]), d["source_id"])}
                for d in summary.dead_letters]
        create_table_artifact(table=rows, key=artifact_key(summary.pipeline, "dead-letters"),
                              description="records that were not synced (first 100); "
                              "`offering-sync dead-letters list` shows all")
    if summary.message:
        create_markdown_artifact(markdown=f"**{summary.status}**: {summary.message}",
                                 key=artifact_key(summary.pipeline, "run-note"))


class Progress:
    """The run's progress artifact: a real share when the source gives a total, else a count.

    The engine calls ``update`` after each page with its counts; when the source knows how many
    records the run will read, the counts carry it (``counts.source_total``; a ``total``
    argument is taken too).
    Without one the artifact says "n records so far" and stays at 0 % until the run ends, since
    any other percentage would be made up. Updates are throttled to one every ``every`` s.
    """

    def __init__(self, pipeline: str, every: float = 2.0) -> None:
        self.every = every
        self.last = 0.0
        self.id = UUID(str(create_progress_artifact(
            progress=0.0, key=artifact_key(pipeline, "progress"),
            description="starting: no records read yet")))

    def update(self, counts: Any, total: int | None = None) -> None:
        """Record ``counts.extracted`` out of ``total`` (when known)."""
        if total is None:
            total = getattr(counts, "source_total", None)
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        done = int(counts.extracted)
        if total:
            update_progress_artifact(self.id, progress=min(99.0, 100.0 * done / total),
                                     description=f"{done:,} of {total:,} records read")
        else:
            update_progress_artifact(self.id, progress=0.0,
                                     description=f"{done:,} records so far (the source gives "
                                     "no total, so no percentage)")

    def finish(self, extracted: int) -> None:
        """The run is over: 100 %, and how many records it read."""
        update_progress_artifact(self.id, progress=100.0,
                                 description=f"done: {extracted:,} records read")
