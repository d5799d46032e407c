"""``offering-sync reconcile``: compare source and target, optionally re-queue the differences."""

from __future__ import annotations

from typing import Annotated

import typer

from offering_sync.app.commands.inputs import core_settings, open_store
from offering_sync.app.commands.output import err, out, print_json
from offering_sync.app.commands.progress import reading_progress

__all__ = ["reconcile"]


def reconcile(
    source: Annotated[str, typer.Option(help="System the offerings come from.")],
    target: Annotated[str, typer.Option(help="System they are synced to.")],
    fix: Annotated[bool, typer.Option(help="Re-queue missing and drifted records.")] = False,
    csv: Annotated[str | None, typer.Option(help="Write every row to this CSV file.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the counts and the rows that differ.")] = False,
) -> None:
    """Compare source and target: missing, extra and drifted offerings (exit 1 if any)."""
    from offering_sync.app.compose import build_reconcile
    from offering_sync.reconcile import reconcile as compare
    from offering_sync.reconcile import requeue

    settings = core_settings()
    store = open_store(settings)  # first: it keeps the tokens the connectors will use
    pipeline, back, reader = build_reconcile(source, target, settings)
    try:
        with reading_progress(err) as progress:
            report = compare(pipeline, back, reader, store, progress=progress)
    finally:
        pipeline.source.close()
        pipeline.target.close()
        reader.close()
    if csv:
        report.frame.to_csv(csv, index=False)
    requeued = requeue(store, pipeline, report) if fix else 0
    if as_json:
        differ = report.frame[report.frame["status"] != "ok"]
        print_json({**report.counts, "requeued": requeued, "compared": report.compared,
                    "rows": [{k: (v or None) for k, v in row.items()}
                             for row in differ.to_dict("records")]})
    else:
        out.print(report.markdown(f"{source} → {target}"), markup=False, highlight=False)
        if fix:
            out.print(f"{requeued} records re-queued for the next sync")
    bad = report.counts["missing"] + report.counts["drifted"] + report.counts["extra"]
    raise typer.Exit(0 if not bad else 1)
