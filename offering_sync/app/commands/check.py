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
    from offering_sync.app.check import as_dict, configured_systems, render_line, run_checks
    from offering_sync.app.commands.inputs import core_settings, open_store

    chosen = list(systems or ()) or configured_systems()
    if chosen:
        # Tokens come from, and go to, the state store as for `sync`: a check reuses a valid
        # token and what it mints is counted (Rhythm allows a tenant ~1,000 tokens a month).
        open_store(core_settings())
    lines = run_checks(chosen)
    if as_json:
        out.print_json(json.dumps([as_dict(line) for line in lines]))
    else:
        for line in lines:
            out.print(render_line(line), markup=False, highlight=False,
                      style=None if line.ok else "red")
    raise typer.Exit(0 if all(line.ok for line in lines) else 2)
