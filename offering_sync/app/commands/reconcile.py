"""``offering-sync reconcile``: compare source and target; ``--fix`` repairs by the policies."""

from __future__ import annotations

from typing import Annotated

import typer

from offering_sync.app.commands.inputs import DELETES, choice, core_settings, open_store
from offering_sync.app.commands.output import err, finish, out, print_json
from offering_sync.app.commands.progress import reading_progress, sync_progress
from offering_sync.errors import SyncError

__all__ = ["reconcile"]


def reconcile(
    source: Annotated[str, typer.Option(help="System the offerings come from.")],
    target: Annotated[str, typer.Option(help="System they are synced to.")],
    fix: Annotated[bool, typer.Option(
        help="Repair: re-send missing and drifted records, and treat offerings the source no "
        "longer lists by --on-delete, in one full sync now.")] = False,
    on_delete: Annotated[str | None, typer.Option(
        help="With --fix: report | deactivate | delete, for offerings the source no longer "
        "lists (default: OFFERING_SYNC_ON_DELETE).")] = None,
    allow_mass_delete: Annotated[bool, typer.Option(
        help="With --fix: deactivate/delete even past OFFERING_SYNC_MAX_DELETE_RATIO."
    )] = False,
    csv: Annotated[str | None, typer.Option(help="Write every row to this CSV file.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print the counts and the rows that differ.")] = False,
) -> None:
    """Compare source and target: missing, drifted, extra and gone offerings (exit 1 if any).

    Records only the target holds (extra) are never changed, with or without --fix.
    """
    from offering_sync.app.compose import build_pipeline, build_reconcile
    from offering_sync.reconcile import reconcile as compare
    from offering_sync.reconcile import repair

    settings = core_settings()
    options = settings.options(on_delete=choice(on_delete, "--on-delete", DELETES),
                               allow_mass_delete=allow_mass_delete)
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
    differ = report.frame[~report.frame["status"].isin(["ok", "retired"])]
    body = {**report.counts, "compared": report.compared,
            "rows": [{k: (v or None) for k, v in row.items()} for row in differ.to_dict("records")]}
    if not as_json:
        out.print(report.markdown(f"{source} → {target}"), markup=False, highlight=False)
    if not fix or not report.differences:
        if as_json:
            print_json(body)
        elif fix:
            out.print("nothing to fix")
        raise typer.Exit(1 if report.differences else 0)
    fixing = build_pipeline(source, target, settings)
    try:
        with sync_progress(err, f"fixing {source} → {target}") as progress:
            summary = repair(store, fixing, report, options, progress=progress)
    except SyncError as exc:
        if as_json:  # one object, the refused or failed fix included
            failed = getattr(exc, "run_summary", None)
            fixed = failed.as_dict() if failed is not None else {}
            print_json({**body, "fix": {**fixed, "status": fixed.get("status", "failed"),
                                        "message": str(exc)}})
        raise
    finally:
        fixing.source.close()
        fixing.target.close()
    if as_json:
        print_json({**body, "fix": summary.as_dict()})
        raise typer.Exit(0 if summary.ok else 1)
    finish(summary.as_dict(), as_json=False)
