"""The ``reconcile-offerings`` flow: compare source and target, report, optionally re-queue."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from offering_sync.app.compose import build_reconcile
from offering_sync.flows.blocks import load_secret_blocks
from offering_sync.flows.sync import System
from offering_sync.reconcile import reconcile, requeue
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["reconcile_offerings"]


@flow(name="reconcile-offerings", validate_parameters=True)
def reconcile_offerings(source: System, target: System, fix: bool = False,
                        csv_dir: str | None = None) -> dict[str, int]:
    """Missing, extra and drifted offerings as artifacts (and CSV); ``fix`` re-queues them."""
    logger = get_run_logger()
    load_secret_blocks(source, target)
    settings = CoreSettings()
    pipeline, back, reader = build_reconcile(source, target, settings)
    store = StateStore(settings.state_url)
    try:
        report = reconcile(pipeline, back, reader, store)
    finally:
        for connector in (pipeline.source, pipeline.target, reader):
            connector.close()
    key = f"{source}-{target}-reconcile"
    create_markdown_artifact(markdown=report.markdown(f"Reconcile {source} → {target}"), key=key)
    problems = [{str(k): v for k, v in row.items()} for row in
                report.frame[report.frame["status"] != "ok"].head(500).to_dict("records")]
    if problems:
        create_table_artifact(table=problems, key=f"{key}-rows")
    if csv_dir:
        path = Path(csv_dir) / f"{key}.csv"
        report.frame.to_csv(path, index=False)
        logger.info("wrote %s", path)
    counts = dict(report.counts)
    if fix:
        counts["requeued"] = requeue(store, pipeline, report)
        logger.info("re-queued %d records for the next sync", counts["requeued"])
    store.close()
    return counts
