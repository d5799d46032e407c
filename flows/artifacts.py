"""Run summaries as Prefect artifacts: a counts table and a dead-letter table (no payloads)."""

from __future__ import annotations

from typing import Any

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from offering_sync.engine import RunSummary

__all__ = ["publish_summary"]


def _key(pipeline: str, what: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in pipeline.lower()).strip("-")
    return f"{slug.replace('--', '-')}-{what}"


def publish_summary(summary: RunSummary) -> None:
    """Table of counts, and, when records failed, a table of their dead letters."""
    row: dict[str, Any] = {"run_id": summary.run_id, "status": summary.status,
                           **summary.counts.as_dict(), "batches": summary.batches,
                           "seconds": round(summary.seconds, 2), "dry_run": summary.dry_run,
                           "warning": (f"{summary.counts.failed} records not synced: see the "
                                       "dead-letters artifact") if summary.counts.failed else ""}
    create_table_artifact(table=[row], key=_key(summary.pipeline, "run-summary"),
                          description=f"{summary.pipeline}: what this run did")
    if summary.dead_letters:
        rows = [{k: d[k] for k in ("id", "stage", "source_id", "field", "error")}
                for d in summary.dead_letters]
        create_table_artifact(table=rows, key=_key(summary.pipeline, "dead-letters"),
                              description="records that were not synced (first 100)")
    if summary.message:
        create_markdown_artifact(markdown=f"**{summary.status}**: {summary.message}",
                                 key=_key(summary.pipeline, "run-note"))
