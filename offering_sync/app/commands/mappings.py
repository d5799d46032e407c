"""``offering-sync mappings check|export``: validate the mapping files, copy them for editing.

``OFFERING_SYNC_MAPPINGS_DIR`` is an overlay: a file there replaces the bundled file of the
same name, every other file falls back, and crosswalk tables merge table by table. ``export``
writes bundled files into such a folder; ``check`` says, per pair and per crosswalk table,
whether yours or the bundled one is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from offering_sync.app.commands.inputs import core_settings, pipeline_name
from offering_sync.app.commands.output import err, out
from offering_sync.errors import ConfigError
from offering_sync.settings import CoreSettings

__all__ = ["check", "export"]


def _origin(settings: CoreSettings, path: Path) -> str:
    mine = (settings.mappings_dir is not None and path.parent == settings.mappings_dir) or \
        (settings.crosswalks_file is not None and path == settings.crosswalks_file)
    return "yours" if mine else "bundled"


def _pairs(pipelines: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for text in pipelines:
        source, arrow, target = (pipeline_name(text) or "").partition("->")
        if not arrow or not source or not target:
            raise ConfigError(f"{text!r} is not a pipeline; write SOURCE:TARGET, e.g. "
                              "digitalchalk:salesforce")
        pairs.append((source, target))
    return pairs


def check(pipelines: Annotated[list[str] | None, typer.Argument(
        help="Only what these pipelines use, e.g. digitalchalk:salesforce (default: every "
        "file).")] = None) -> None:
    """Validate and compile the mapping files; say which file serves each pair."""
    from offering_sync.app.compose import check_pipelines, crosswalk_origins

    settings = core_settings()
    results = check_pipelines(settings, _pairs(pipelines) if pipelines else None)
    origins = crosswalk_origins(settings)
    for result in results:
        chosen = result.file
        label = f"{chosen.side_from} → {chosen.side_to}: {chosen.path} " \
                f"({_origin(settings, chosen.path)})"
        if result.problem:
            err.print(f"[red]✗[/] {escape(label)}", highlight=False)
            err.print(f"  {result.problem}", markup=False, highlight=False)
        else:
            out.print(f"[green]✓[/] {escape(label)}", highlight=False)
        for warning in result.warnings:
            out.print(f"  [yellow]warning:[/] {escape(warning)}", highlight=False)
    used = dict.fromkeys(t for r in results for t in r.tables)
    for table in used:
        where = origins.get(table)
        if where is None:
            continue  # the file's own error above names the missing table
        out.print(f"  crosswalk {table}: {where} ({_origin(settings, where)})", highlight=False,
                  markup=False)
    if any(r.problem for r in results):
        raise typer.Exit(1)


def export(
    folder: Annotated[Path, typer.Argument(help="Where to write (created if missing).")],
    files: Annotated[list[str] | None, typer.Argument(
        help="File names, e.g. canonical_to_salesforce.yaml (default: all).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files already there.")] = False,
) -> None:
    """Copy bundled mapping files into FOLDER for editing; point OFFERING_SYNC_MAPPINGS_DIR there.

    Export only the files you mean to change: every file you do not hold keeps following the
    bundled one when offering-sync is upgraded.
    """
    from offering_sync.app.compose import bundled_files

    bundled = bundled_files()
    names = files or sorted(bundled)
    unknown = [n for n in names if n not in bundled]
    if unknown:
        raise ConfigError(f"no bundled mapping file {unknown[0]!r}; bundled: "
                          f"{', '.join(sorted(bundled))}")
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} exists and is not a folder")
    clashes = [n for n in names if (folder / n).exists()]
    if clashes and not force:
        raise ConfigError(f"{folder / clashes[0]} already exists; it may hold your edits "
                          "(--force overwrites it)")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(bundled[name].read_bytes())
        out.print(f"wrote {folder / name}", highlight=False, markup=False)
    err.print(f"Edit them, then: export OFFERING_SYNC_MAPPINGS_DIR={folder.resolve()} and run "
              "`offering-sync mappings check`.", highlight=False, markup=False)
