"""``offering-sync check``: read-only connection checks per system, one line each."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from offering_sync.app.commands.output import out

__all__ = ["check"]


def check(
    systems: Annotated[list[str] | None, typer.Argument(
        help="Systems to check (default: every system with settings present).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Read-only connection checks: token, API version, objects and fields, one read, quota."""
    from offering_sync.app.check import as_dict, render_line, run_checks

    lines = run_checks(systems or ())
    if as_json:
        out.print_json(json.dumps([as_dict(line) for line in lines]))
    else:
        for line in lines:
            out.print(render_line(line), markup=False, highlight=False,
                      style=None if line.ok else "red")
    raise typer.Exit(0 if all(line.ok for line in lines) else 2)
