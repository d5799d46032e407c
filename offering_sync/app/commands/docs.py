"""``offering-sync docs`` and ``systems``: what is installed, as tables and ``.env.example``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from offering_sync.app.commands.output import out, print_json

__all__ = ["docs", "systems"]


def docs(write: Annotated[bool, typer.Option(
        help="Update README.md and .env.example in the current folder.")] = False) -> None:
    """Print (or write) the README's systems and field tables; --write also writes .env.example."""
    from offering_sync.app import env_example
    from offering_sync.app.system_docs import render, update_readme

    if write:
        changed = update_readme(Path("README.md"))
        out.print("README.md updated" if changed else "README.md already up to date")
        changed = env_example.update(Path(".env.example"))
        out.print(".env.example updated" if changed else ".env.example already up to date")
    else:
        out.print(render(), markup=False, highlight=False)


def systems(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
            ) -> None:
    """List the installed systems (plugins), their directions and where they come from."""
    from offering_sync.app.registry import all_systems

    found = all_systems()
    if as_json:
        print_json([{"slug": s.slug, "title": s.title, "directions": list(s.directions),
                     "module": s.settings_class.__module__} for s in found.values()])
        return
    table = Table(title="systems")
    for column in ("system", "title", "source", "target", "package"):
        table.add_column(column)
    for spec in found.values():
        table.add_row(spec.slug, spec.title, "yes" if spec.make_source else "no",
                      "yes" if spec.make_target else f"no ({spec.note})" if spec.note else "no",
                      spec.settings_class.__module__.split(".")[0])
    out.print(table)
