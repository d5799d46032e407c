"""The ``reconcile-offerings`` flow: compare source and target, report, optionally repair."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.runtime import flow_run
from prefect.states import Completed

from offering_sync.app.compose import build_pipeline, build_reconcile, keep_tokens_in
from offering_sync.engine import DeletePolicy
from offering_sync.flows.blocks import load_secret_blocks
from offering_sync.flows.sync import System, run_stamp
from offering_sync.reconcile import reconcile, repair
from offering_sync.redact import redacting
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["reconcile_offerings"]


def _run_name() -> str:
    params = flow_run.parameters
    fix = " fix" if params.get("fix") else ""
    return f"reconcile{fix} {params.get('source')}→{params.get('target')} {run_stamp()}"


@flow(name="reconcile-offerings", flow_run_name=_run_name, validate_parameters=True)
def reconcile_offerings(source: System, target: System, fix: bool = False,
                        csv_dir: str | None = None, on_delete: DeletePolicy | None = None,
                        allow_mass_delete: bool = False) -> dict[str, int]:
    """Compare source and target: missing, drifted, extra and gone offerings as artifacts.

    Args:
        source: The system offerings come from.
        target: The system they are synced to.
        fix: Repair now: re-send missing and drifted records and treat offerings the source no
            longer lists by ``on_delete``, in one full sync (records only the target holds are
            never changed).
        csv_dir: A folder on the worker to write every compared row to, as CSV.
        on_delete: With ``fix``: report, deactivate or delete (default: the setting).
        allow_mass_delete: With ``fix``: act even past OFFERING_SYNC_MAX_DELETE_RATIO.
    """
    with redacting():
        return _reconcile(source, target, fix, csv_dir, on_delete, allow_mass_delete)


def _reconcile(source: str, target: str, fix: bool, csv_dir: str | None,
               on_delete: str | None, allow_mass_delete: bool) -> dict[str, int]:
    logger = get_run_logger()
    load_secret_blocks(source, target)
    settings = CoreSettings()
    store = StateStore(settings.state_url)
    keep_tokens_in(store)
    pipeline, back, reader = build_reconcile(source, target, settings)
    try:
        report = reconcile(pipeline, back, reader, store)
    finally:
        for connector in (pipeline.source, pipeline.target, reader):
            connector.close()
    key = f"{source}-{target}-reconcile"
    create_markdown_artifact(markdown=report.markdown(f"Reconcile {source} → {target}"), key=key)
    problems = [{str(k): v for k, v in row.items()} for row in
                report.frame[~report.frame["status"].isin(["ok", "retired"])].head(500)
                .to_dict("records")]
    if problems:
        create_table_artifact(table=problems, key=f"{key}-rows")
    if csv_dir:
        path = Path(csv_dir) / f"{key}.csv"
        report.frame.to_csv(path, index=False)
        logger.info("wrote %s", path)
    counts = dict(report.counts)
    differ = report.differences
    fixed = ""
    if fix and differ:
        options = settings.options(on_delete=on_delete, allow_mass_delete=allow_mass_delete)
        fixing = build_pipeline(source, target, settings)
        try:
            summary = repair(store, fixing, report, options, progress=None)
        finally:
            fixing.source.close()
            fixing.target.close()
        for name in ("created", "updated", "deactivated", "deleted", "failed"):
            counts[f"fix_{name}"] = getattr(summary.counts, name)
        fixed = (f" · fixed: {summary.counts.created:,} created, {summary.counts.updated:,} "
                 f"updated, {summary.counts.deactivated:,} deactivated, "
                 f"{summary.counts.deleted:,} deleted, {summary.counts.failed:,} failed")
    store.close()
    message = (f"{sum(report.counts.values()):,} compared: {counts['ok']:,} ok · "
               f"{counts['missing']:,} missing in target · {counts['extra']:,} extra in target"
               f" · {counts['drifted']:,} drifted · {counts['missing_in_source']:,} missing in "
               f"source · {counts['retired']:,} retired" + fixed)
    logger.info("%s", message)
    name = "Completed with differences" if differ else "Completed"
    return cast("dict[str, int]", Completed(name=name, message=message, data=counts))
