"""``offering-sync runs`` and ``history``: what ran, how long it took, what happened to a record."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.measure import Measurement
from rich.table import Table

from offering_sync.app.commands.inputs import core_settings, known_pipeline, open_store
from offering_sync.app.commands.output import COUNT_COLUMNS, duration, out, plain, print_json
from offering_sync.errors import ConfigError

__all__ = ["history", "runs"]

PIPELINE_HELP = "e.g. digitalchalk:salesforce (or 'digitalchalk->salesforce', quoted)"


def runs(limit: Annotated[int, typer.Option(min=1, help="How many runs to show.")] = 20,
         pipeline: Annotated[str | None, typer.Option(help=PIPELINE_HELP)] = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
         ) -> None:
    """Show recent runs from the state store, newest first."""
    store = open_store(core_settings())
    rows = store.runs(limit=limit, pipeline=known_pipeline(store, pipeline))
    if as_json:
        print_json([{**r.counts, **r.details, "id": r.id, "pipeline": r.pipeline,
                     "mode": r.mode, "status": r.status, "message": r.message,
                     "started_at": r.started_at.isoformat(),
                     "finished_at": r.finished_at.isoformat() if r.finished_at else None,
                     "seconds": round(r.seconds, 3) if r.seconds is not None else None}
                    for r in rows])
        return
    if not rows:
        out.print("no runs yet" + (f" of {pipeline}" if pipeline else ""))
        return
    table = _runs_table(rows)
    if Measurement.get(out, out.options.update_width(10_000), table).maximum <= out.width:
        out.print(table)
        return
    # Too narrow for a table (rich would cut pipeline names): one short block per run.
    out.print(f"runs ({len(rows)} newest)", highlight=False)
    for r in rows:
        counts = " · ".join(f"{r.counts.get(k, 0):,} {k}" for k in COUNT_COLUMNS)
        if _gone(r):
            counts += f" · {_gone(r)} gone from source"
        out.print(f"{r.id[:8]}  {r.pipeline}  {r.mode}  {r.status}\n"
                  f"  started {r.started_at:%Y-%m-%d %H:%M:%S} UTC, duration "
                  f"{duration(r.seconds)}: {counts}", highlight=False, markup=False)


def _runs_table(rows: list[Any]) -> Table:
    table = Table(title=f"runs ({len(rows)} newest)")
    table.add_column("id", no_wrap=True)
    table.add_column("pipeline", no_wrap=True)
    for column in ("mode", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("started (UTC)", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    for column in COUNT_COLUMNS:
        table.add_column(column, justify="right", no_wrap=True)
    gone = any(_gone(r) for r in rows)
    if gone:  # only when some run met offerings the source no longer lists
        table.add_column("gone from source", no_wrap=True)
    for r in rows:
        table.add_row(r.id[:8], r.pipeline, r.mode, r.status,
                      f"{r.started_at:%Y-%m-%d %H:%M:%S}", duration(r.seconds),
                      *(f"{r.counts.get(k, 0):,}" for k in COUNT_COLUMNS),
                      *([_gone(r)] if gone else []))
    return table


def _gone(run: Any) -> str:
    """``5 (5 deactivated)``: linked offerings the source no longer lists, and what was done."""
    missing = int(run.details.get("missing_in_source") or 0)
    if not missing:
        return ""
    done = [f"{n:,} {k}" for k in ("deactivated", "deleted") if (n := run.details.get(k))]
    return f"{missing:,}" + (f" ({', '.join(done)})" if done else "")


def history(
    key: Annotated[str, typer.Argument(help="A source id or an external id.")],
    pipeline: Annotated[str | None, typer.Option(help=PIPELINE_HELP)] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many log rows.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """What happened to one offering: its sync log across runs, newest first."""
    store = open_store(core_settings())
    name = known_pipeline(store, pipeline)
    rows = store.history(key, pipeline=name, limit=limit + 1)
    more, rows = len(rows) > limit, rows[:limit]
    if not rows:
        raise ConfigError(f"no sync log for {key!r}" + (f" in {pipeline}" if pipeline else "")
                          + "; give a source id or an external id as `sync` or "
                          "`dead-letters list` show them")
    if as_json:
        print_json([{**{k: getattr(r, k) for k in (
            "run_id", "pipeline", "source_id", "external_id", "target_id", "operation",
            "status", "content_hash", "error")}, "at": r.created_at.isoformat(),
            # only a row whose write the target confirmed was sent; others were attempted
            ("sent" if r.status == "ok" else "attempted"): _sent(r.payload)} for r in rows])
        return
    table = Table(title=f"history of {key}")
    for column in ("when", "run", "pipeline", "operation", "status", "target id", "error"):
        table.add_column(column, overflow="fold", no_wrap=column in ("when", "pipeline"))
    for r in rows:
        table.add_row(*plain(f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.run_id[:8], r.pipeline,
                             r.operation, r.status, r.target_id, (r.error or "")[:200]))
    out.print(table)
    if more:
        out.print(f"the newest {limit} rows; --limit shows more", markup=False, highlight=False)
    written = next((r for r in rows if r.status == "ok" and r.payload), None)
    out.print("what was written last" + (f" (to {written.pipeline.replace('->', ' → ')}, run "
                                         f"{written.run_id[:8]}): {written.payload[:2000]}"
                                         if written and written.payload else ": (nothing here)"),
              markup=False, highlight=False)


def _sent(payload: str | None) -> Any:
    if payload and payload.startswith("{") and payload.endswith("}"):
        try:
            return json.loads(payload)
        except ValueError:
            return payload
    return payload
