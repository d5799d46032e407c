"""``offering-sync sync``: one run of one pipeline, in this process or as a Prefect flow run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from offering_sync.app.commands.inputs import (
    CONFLICTS,
    DELETES,
    choice,
    core_settings,
    open_store,
    when,
)
from offering_sync.app.commands.output import err, finish, print_json
from offering_sync.app.commands.progress import sync_progress
from offering_sync.engine import sync_pipeline
from offering_sync.errors import SyncError

__all__ = ["secrets_from_prefect", "sync"]


def sync(
    source: Annotated[str, typer.Option(help="System to read from, e.g. digitalchalk.")],
    target: Annotated[str, typer.Option(help="System to write to, e.g. salesforce.")],
    full_refresh: Annotated[bool, typer.Option(
        help="Ignore the stored watermark and map every record again (lookups re-read).")] = False,
    since: Annotated[str | None, typer.Option(help="ISO date-time: start of the window.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date-time: end of the window.")] = None,
    dry_run: Annotated[bool, typer.Option(
        help="Read the source and ask the target (read-only) what would change; write "
        "nothing.")] = False,
    on_conflict: Annotated[str | None, typer.Option(
        help="source-wins | target-wins | dead-letter, when the target was edited since our "
        "last write (default: OFFERING_SYNC_ON_CONFLICT).")] = None,
    on_delete: Annotated[str | None, typer.Option(
        help="report | deactivate | delete, for offerings the source no longer lists "
        "(default: OFFERING_SYNC_ON_DELETE).")] = None,
    allow_mass_delete: Annotated[bool, typer.Option(
        help="Deactivate/delete even past OFFERING_SYNC_MAX_DELETE_RATIO, this run only."
    )] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    prefect: Annotated[bool, typer.Option(help="Run as a Prefect flow (shows in the UI).")] = False,
) -> None:
    """Sync offerings from SOURCE to TARGET once."""
    settings = core_settings()
    options = settings.options(
        full_refresh=full_refresh, since=when(since, "since"), until=when(until, "until"),
        dry_run=dry_run, mode="full" if full_refresh else "backfill" if since or until
        else "incremental", on_conflict=choice(on_conflict, "--on-conflict", CONFLICTS),
        on_delete=choice(on_delete, "--on-delete", DELETES),
        allow_mass_delete=allow_mass_delete)
    if prefect:
        from offering_sync.app.registry import system
        from offering_sync.flows.sync import sync_offerings

        for name in (source, target):
            system(name)  # unknown names fail here as one sentence, not in the flow
        summary_dict = sync_offerings(source=source, target=target,  # type: ignore[call-overload]
                                      full_refresh=full_refresh, since=options.since,
                                      until=options.until, dry_run=dry_run,
                                      on_conflict=on_conflict, on_delete=on_delete,
                                      allow_mass_delete=allow_mass_delete)
        finish(summary_dict, as_json)
        return
    from offering_sync.app.compose import build_pipeline, token_details

    store = open_store(settings)  # first: it keeps the tokens the connectors will use
    pipeline = build_pipeline(source, target, settings)
    try:
        with sync_progress(err, f"{source} → {target}") as progress:
            summary = sync_pipeline(pipeline, store, options, progress=progress)
        summary.details.update(token_details(store, source, target))
    except SyncError as exc:
        if as_json:  # always one object, failed runs included
            failed = getattr(exc, "run_summary", None)
            body: dict[str, Any] = failed.as_dict() if failed is not None else {}
            print_json({**body, "status": body.get("status", "failed"), "message": str(exc)})
        raise
    finally:
        pipeline.source.close()
        pipeline.target.close()
    finish(summary.as_dict(), as_json)


def secrets_from_prefect(*systems: str) -> None:
    """Where a Prefect server is configured, credentials may live in its Secret blocks."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        return
    from offering_sync.flows.blocks import load_secret_blocks

    load_secret_blocks(*systems)
