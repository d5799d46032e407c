"""``offering-sync dead-letters list|retry``: records that could not be synced.

``list`` pages through them (``--limit``/``--offset``), always says how many match, and filters
by pipeline, stage and field; an unknown pipeline is an error, never an empty list.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from offering_sync.app.commands.inputs import choice, core_settings, known_pipeline, open_store
from offering_sync.app.commands.output import out, plain, print_json, summary_table
from offering_sync.app.commands.runs import PIPELINE_HELP
from offering_sync.app.commands.sync import secrets_from_prefect

__all__ = ["STAGES", "list_dead_letters", "retry_dead_letters"]

STAGES = ("extract", "map", "validate", "map_target", "load", "retire")


def list_dead_letters(
    pipeline: Annotated[str | None, typer.Option(help=PIPELINE_HELP)] = None,
    stage: Annotated[str | None, typer.Option(
        help="Only this stage: " + ", ".join(STAGES) + ".")] = None,
    field: Annotated[str | None, typer.Option(
        help="Only failures of this field, e.g. starts_at.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many to show.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="How many to skip (paging).")] = 0,
    include_resolved: Annotated[bool, typer.Option(help="Show resolved ones too.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print {total, offset, limit, dead_letters: […]}.")] = False,
) -> None:
    """List records that could not be extracted, mapped, validated or loaded."""
    store = open_store(core_settings())
    name = known_pipeline(store, pipeline)
    query: dict[str, Any] = {"pipeline": name, "unresolved_only": not include_resolved,
                             "stage": choice(stage, "--stage", STAGES), "field": field}
    total = store.count_dead_letters(**query)
    rows = store.dead_letters(**query, limit=limit, offset=offset)
    if as_json:
        print_json({"total": total, "offset": offset, "limit": limit, "dead_letters": [
            {"id": d.id, "run_id": d.run_id, "pipeline": d.pipeline, "stage": d.stage,
             "source_id": d.source_id, "external_id": d.external_id, "field": d.field,
             "error": d.error, "attempts": d.attempts, "parked": d.parked,
             "created_at": d.created_at.isoformat(), "resolved": d.resolved_at is not None}
            for d in rows]})
        return
    shown = f"{offset + 1:,}–{offset + len(rows):,} of {total:,}" if rows else f"0 of {total:,}"
    table = Table(title=f"dead letters {shown}")
    for column in ("id", "pipeline", "stage", "source id", "field", "attempts", "error"):
        table.add_column(column, overflow="fold", no_wrap=column in ("id", "pipeline"))
    for d in rows:
        table.add_row(*plain(d.id, d.pipeline, d.stage, d.source_id or "?", d.field,
                             f"{d.attempts}{' (parked)' if d.parked else ''}", d.error[:300]))
    out.print(table)
    if offset + len(rows) < total:
        out.print(f"next page: --offset {offset + len(rows)} (--limit {limit})",
                  highlight=False)


def retry_dead_letters(
    ids: Annotated[list[int] | None, typer.Option("--id", help="Dead-letter ids (repeat).")] = None,
    pipeline: Annotated[str | None, typer.Option(help=PIPELINE_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Retry dead letters now, re-reading each record from the source; resolved on success."""
    from offering_sync.app.compose import build_pipeline
    from offering_sync.retry_dead_letters import retry_dead_letters as retry

    settings = core_settings()
    store = open_store(settings)
    name = known_pipeline(store, pipeline)

    def build(source: str, target: str) -> Any:
        secrets_from_prefect(source, target)
        return build_pipeline(source, target, settings)

    summaries = retry(store, build, ids=ids, pipeline=name,
                      options=settings.options(mode="retry"))
    if not summaries:
        if as_json:
            print_json([])
        else:
            out.print("no dead letters to retry")
        return
    if as_json:
        print_json([s.as_dict() for s in summaries])
    else:
        for s in summaries:
            out.print(summary_table(s.as_dict(), title=f"retry {s.pipeline}"))
    if not all(s.ok for s in summaries):
        raise typer.Exit(1)
