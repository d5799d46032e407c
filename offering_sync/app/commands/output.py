"""What the user sees: the two consoles, run-summary and failure tables, durations.

Results go to stdout (``out``); messages, warnings and live progress to stderr (``err``), so
``--json`` output and ``eval "$(…)"`` lines are never mixed with anything else. A table printed
to a file or a pipe is laid out for a wide page instead of being squeezed into 80 columns.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

__all__ = ["duration", "err", "failures_table", "finish", "out", "plain", "print_json",
           "summary_table"]


def _width(stream: Any) -> int | None:
    """None (rich asks the terminal) on a terminal, else ``COLUMNS`` or a wide page."""
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        pass
    return int(os.environ.get("COLUMNS") or 0) or 200


out = Console(soft_wrap=True, width=_width(sys.stdout))
err = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))


def print_json(value: Any) -> None:
    """One JSON document on stdout, nothing else."""
    out.print_json(json.dumps(value, default=str))


def duration(seconds: float | None) -> str:
    """``0.4s``, ``12.3s``, ``4m 05s``, ``2h 03m``: read at a glance, narrow in a table."""
    if seconds is None:
        return "running"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


COUNT_COLUMNS = ("extracted", "created", "updated", "unchanged", "failed")
# shown only when a run has them, so the counts add up without widening every table
EXTRA_COLUMNS = {"adopted": "adopted", "skipped": "skipped", "still_failing": "still failing",
                 "conflicts": "conflicts"}


def plain(*values: object) -> list[Text]:
    """Table cells shown as they are: a vendor's ``[…]`` is text, never rich markup."""
    return [Text("" if v is None else str(v)) for v in values]


def summary_table(summary: dict[str, Any], title: str | None = None) -> Table:
    """One run: status, counts, how long it took and how fast it read."""
    run_id = str(summary.get("run_id") or "")[:8]
    table = Table(title=title or f"{summary.get('pipeline', '')} · run {run_id}",
                  box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)  # fits 80 columns
    extra = [k for k in EXTRA_COLUMNS if summary.get(k)]
    table.add_column("status")
    for column in (*COUNT_COLUMNS, *(EXTRA_COLUMNS[k] for k in extra), "duration", "records/s"):
        table.add_column(column, justify="right", no_wrap=True)
    seconds = float(summary.get("seconds") or 0)
    rate = summary.get("records_per_second")
    if rate is None:
        rate = summary.get("extracted", 0) / seconds if seconds else 0.0
    table.add_row(str(summary.get("status")),
                  *(f"{summary.get(c, 0):,}" for c in (*COUNT_COLUMNS, *extra)),
                  duration(seconds), f"{float(rate):,.1f}")
    return table


def failures_table(groups: list[dict[str, Any]], limit: int = 10) -> Table:
    """Why records failed, one row per (stage, field, reason) with a count and one example."""
    total = sum(int(g["count"]) for g in groups)
    table = Table(title=f"why {total:,} records were not synced")
    for column in ("count", "stage", "field", "reason", "example id"):
        table.add_column(column, justify="right" if column == "count" else "left",
                         overflow="fold")
    for group in groups[:limit]:
        table.add_row(f"{int(group['count']):,}", *plain(group["stage"], group["field"],
                                                          group["reason"], group["example"]))
    if len(groups) > limit:
        rest = sum(int(g["count"]) for g in groups[limit:])
        table.add_row(f"{rest:,}", "", "", f"… {len(groups) - limit} more reasons", "")
    return table


def finish(summary: dict[str, Any], as_json: bool) -> None:
    """Print a run's outcome and exit: 0 when every record was loaded or unchanged, else 1."""
    if as_json:
        print_json(summary)
    else:
        out.print(summary_table(summary))
        groups = summary.get("failure_groups") or []
        if groups:
            out.print(failures_table(groups))
        if summary.get("message"):
            out.print(f"[yellow]{escape(str(summary['message']))}[/]", highlight=False)
    ok = (summary.get("status") == "succeeded" and not summary.get("failed")
          and not summary.get("still_failing"))
    if not ok and not as_json and (summary.get("failed") or summary.get("still_failing")):
        pipeline = str(summary.get("pipeline", "")).replace("->", ":")
        err.print("[red]Some records were not synced: see `offering-sync dead-letters list "
                  f"--pipeline {pipeline}`.[/]", highlight=False)
    raise typer.Exit(0 if ok else 1)
