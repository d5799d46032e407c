"""The ``offering-sync`` command: demo, sync, emulate, runs, mappings, dead-letters.

A composer like ``compose.py``: it reads settings, builds pipelines and calls the engine (or the
Prefect flow with ``--prefect``). User errors end as one red sentence and exit status 2; a run
that left records unloaded exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from offering_sync.app.ops import ops_app
from offering_sync.engine import Counts, RunSummary, sync_pipeline
from offering_sync.errors import ConfigError, MappingError, SyncError, Unauthorized
from offering_sync.settings import CoreSettings, read_settings

__all__ = ["app", "main"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Keep course offerings in step between education systems.")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"offering-sync {version('offering-sync')}")
        raise typer.Exit(0)


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
          ) -> None:
    """Keep course offerings in step between education systems."""


mappings_app = typer.Typer(no_args_is_help=True, help="Check the declarative mapping files.")
dead_app = typer.Typer(no_args_is_help=True, help="Records that could not be synced.")
app.add_typer(mappings_app, name="mappings")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(ops_app, name="ops")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _when(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--{name} {text!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _store(settings: CoreSettings) -> Any:
    """The state store, which also keeps vendor tokens for the connectors built after it."""
    from offering_sync.app.compose import keep_tokens_in
    from offering_sync.state import StateStore

    store = StateStore(settings.state_url)
    keep_tokens_in(store)
    return store


@app.command()
def sync(
    source: Annotated[str, typer.Option(help="System to read from, e.g. digitalchalk.")],
    target: Annotated[str, typer.Option(help="System to write to, e.g. salesforce.")],
    full_refresh: Annotated[bool, typer.Option(help="Ignore the stored watermark.")] = False,
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
    settings = read_settings(CoreSettings)
    options = settings.options(
        full_refresh=full_refresh, since=_when(since, "since"), until=_when(until, "until"),
        dry_run=dry_run, mode="full" if full_refresh else "backfill" if since or until
        else "incremental", on_conflict=_choice(on_conflict, "--on-conflict", CONFLICTS),
        on_delete=_choice(on_delete, "--on-delete", DELETES),
        allow_mass_delete=allow_mass_delete)
    if prefect:
        from offering_sync.app.registry import system
        from offering_sync.flows.sync import sync_offerings

        for name in (source, target):
            system(name)  # unknown names fail here as one sentence, not in the flow
        summary_dict = sync_offerings(source=source, target=target,  # type: ignore[call-overload]
                                      full_refresh=full_refresh, since=options.since,
                                      until=options.until, dry_run=dry_run)
        _finish(summary_dict, as_json)
        return
    from offering_sync.app.compose import build_pipeline, token_details

    store = _store(settings)
    pipeline = build_pipeline(source, target, settings)
    try:
        summary = _with_progress(lambda cb: sync_pipeline(pipeline, store, options, progress=cb),
                                 quiet=as_json)
        summary.details.update(token_details(store, source, target))
    except SyncError as exc:
        if as_json:  # always one object, failed runs included
            failed = getattr(exc, "run_summary", None)
            body = failed.as_dict() if failed is not None else {"status": "failed"}
            out.print_json(json.dumps({**body, "status": body.get("status", "failed"),
                                       "message": str(exc)}, default=str))
        raise
    finally:
        pipeline.source.close()
        pipeline.target.close()
    _finish(summary.as_dict(), as_json)


CONFLICTS = ("source-wins", "target-wins", "dead-letter")
DELETES = ("report", "deactivate", "delete")


def _choice(value: str | None, option: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise ConfigError(f"{option} {value!r} is not one of {', '.join(allowed)}")
    return value


def _with_progress(run: Any, *, quiet: bool) -> RunSummary:
    if quiet or not err.is_terminal:
        return run(None)  # type: ignore[no-any-return]
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("extracting…")

        def show(c: Counts) -> None:
            bar.update(task, description=f"{c.extracted} extracted · {c.created} created · "
                       f"{c.updated} updated · {c.unchanged} unchanged · {c.failed} failed")

        return run(show)  # type: ignore[no-any-return]


def _finish(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out.print_json(json.dumps(summary, default=str))
    else:
        out.print(_summary_table(summary))
        if summary.get("message"):
            out.print(f"[yellow]{summary['message']}[/]")
    ok = summary["status"] == "succeeded" and summary["failed"] == 0
    if not ok and not as_json:
        err.print("[red]Some records were not synced: see `offering-sync dead-letters list`.[/]")
    raise typer.Exit(0 if ok else 1)


def _summary_table(summary: dict[str, Any], title: str | None = None) -> Table:
    table = Table(title=title or f"{summary['pipeline']} · run {summary['run_id'][:8]}")
    for column in ("status", "extracted", "created", "updated", "unchanged", "failed",
                   "seconds"):
        table.add_column(column, justify="right" if column != "status" else "left")
    table.add_row(*(str(summary[c]) for c in ("status", "extracted", "created", "updated",
                                              "unchanged", "failed", "seconds")))
    return table


@app.command()
def runs(limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
         as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show recent runs from the state store."""
    rows = _store(CoreSettings()).runs(limit=limit)
    if as_json:
        out.print_json(json.dumps([{**r.counts, "id": r.id, "pipeline": r.pipeline,
                                    "mode": r.mode, "status": r.status,
                                    "started_at": r.started_at.isoformat()} for r in rows]))
        return
    table = Table(title="runs")
    for column in ("id", "pipeline", "mode", "status", "started", "extracted", "created",
                   "updated", "unchanged", "failed"):
        table.add_column(column)
    for r in rows:
        table.add_row(r.id[:8], r.pipeline, r.mode, r.status, f"{r.started_at:%Y-%m-%d %H:%M:%S}",
                      *(str(r.counts[k]) for k in ("extracted", "created", "updated",
                                                    "unchanged", "failed")))
    out.print(table)


@mappings_app.command("check")
def mappings_check() -> None:
    """Validate and compile every mapping file."""
    from offering_sync.app.compose import check_mappings

    results = check_mappings(CoreSettings())
    for chosen, problem in results:
        origin = "yours" if chosen.overlaid else "bundled"
        if problem:
            err.print(f"[red]✗[/] {problem}")
        else:
            out.print(f"[green]✓[/] {chosen.side_from} → {chosen.side_to}: {chosen.path} "
                      f"({origin})")
    if any(problem for _, problem in results):
        raise typer.Exit(1)


@app.command()
def reconcile(
    source: Annotated[str, typer.Option(help="System the offerings come from.")],
    target: Annotated[str, typer.Option(help="System they are synced to.")],
    fix: Annotated[bool, typer.Option(help="Re-queue missing and drifted records.")] = False,
    csv: Annotated[str | None, typer.Option(help="Write every row to this CSV file.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Compare source and target: missing, extra and drifted offerings."""
    from offering_sync.app.compose import build_reconcile
    from offering_sync.reconcile import reconcile as compare
    from offering_sync.reconcile import requeue

    settings = CoreSettings()
    store = _store(settings)
    pipeline, back, reader = build_reconcile(source, target, settings)
    report = compare(pipeline, back, reader, store)
    if csv:
        report.frame.to_csv(csv, index=False)
    requeued = requeue(store, pipeline, report) if fix else 0
    if as_json:
        out.print_json(json.dumps({**report.counts, "requeued": requeued}))
    else:
        out.print(report.markdown(f"{source} → {target}"), markup=False, highlight=False)
        if fix:
            out.print(f"{requeued} records re-queued for the next sync")
    bad = report.counts["missing"] + report.counts["drifted"] + report.counts["extra"]
    raise typer.Exit(0 if not bad else 1)


@app.command()
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


@app.command()
def docs(write: Annotated[bool, typer.Option(help="Update README.md in place.")] = False) -> None:
    """Print (or write into README.md) the systems and field tables from the mapping files."""
    from pathlib import Path

    from offering_sync.app.system_docs import render, update_readme

    if write:
        changed = update_readme(Path("README.md"))
        out.print("README.md updated" if changed else "README.md already up to date")
    else:
        out.print(render(), markup=False, highlight=False)


@dead_app.command("list")
def dead_letters_list(
    pipeline: Annotated[str | None, typer.Option(help="e.g. digitalchalk->salesforce")] = None,
    include_resolved: Annotated[bool, typer.Option(help="Show resolved ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List records that could not be extracted, mapped, validated or loaded."""
    rows = _store(CoreSettings()).dead_letters(pipeline=pipeline,
                                               unresolved_only=not include_resolved)
    if as_json:
        out.print_json(json.dumps([{"id": d.id, "run_id": d.run_id, "pipeline": d.pipeline,
                                    "stage": d.stage, "source_id": d.source_id,
                                    "field": d.field, "error": d.error,
                                    "resolved": d.resolved_at is not None} for d in rows]))
        return
    table = Table(title=f"dead letters ({len(rows)})")
    for column in ("id", "pipeline", "stage", "source id", "field", "error"):
        table.add_column(column, overflow="fold")
    for d in rows:
        table.add_row(str(d.id), d.pipeline, d.stage, d.source_id or "?", d.field or "",
                      d.error[:300])
    out.print(table)


@dead_app.command("retry")
def dead_letters_retry(
    ids: Annotated[list[int] | None, typer.Option("--id", help="Dead-letter ids (repeat).")] = None,
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Retry dead letters now, re-reading each record from the source; resolved on success."""
    from offering_sync.app.compose import build_pipeline
    from offering_sync.retry_dead_letters import retry_dead_letters

    settings = read_settings(CoreSettings)
    store = _store(settings)
    name = _pipeline_name(pipeline)
    if name is not None and name not in store.pipelines():
        raise ConfigError(f"no pipeline {name!r} has run here; known: "
                          f"{', '.join(store.pipelines()) or 'none yet'}")

    def build(source: str, target: str) -> Any:
        _secrets_from_prefect(source, target)
        return build_pipeline(source, target, settings)

    summaries = retry_dead_letters(store, build, ids=ids, pipeline=name,
                                   options=settings.options(mode="retry"))
    if not summaries:
        out.print("no dead letters to retry")
        return
    if as_json:
        out.print_json(json.dumps([s.as_dict() for s in summaries], default=str))
    else:
        for s in summaries:
            out.print(_summary_table(s.as_dict(), title=f"retry {s.pipeline}"))
    if not all(s.ok for s in summaries):
        raise typer.Exit(1)


@app.command()
def history(
    key: Annotated[str, typer.Argument(help="A source id or an external id.")],
    pipeline: Annotated[str | None, typer.Option(help="e.g. digitalchalk->salesforce")] = None,
    limit: Annotated[int, typer.Option(help="How many log rows.")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """What happened to one offering: its links and its sync log across runs, newest first."""
    store = _store(read_settings(CoreSettings))
    rows = store.history(key, pipeline=_pipeline_name(pipeline), limit=limit)
    if not rows:
        raise ConfigError(f"no sync log for {key!r}" + (f" in {pipeline}" if pipeline else "")
                          + "; give a source id or an external id (see `offering-sync runs`)")
    if as_json:
        out.print_json(json.dumps([{**{k: getattr(r, k) for k in (
            "run_id", "pipeline", "source_id", "external_id", "target_id", "operation",
            "status", "content_hash", "error")}, "at": r.created_at.isoformat(),
            "sent": json.loads(r.payload) if r.payload and r.payload.startswith("{")
            and r.payload.endswith("}") else r.payload} for r in rows], default=str))
        return
    table = Table(title=f"history of {key}")
    for column in ("when", "run", "pipeline", "operation", "status", "target id", "error"):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(f"{r.created_at:%Y-%m-%d %H:%M:%S}", r.run_id[:8], r.pipeline,
                      r.operation, r.status, r.target_id or "", (r.error or "")[:200])
    out.print(table)
    out.print("what was sent last: " + (rows[0].payload or "(nothing)")[:2000], markup=False,
              highlight=False)


def _secrets_from_prefect(*systems: str) -> None:
    """Where a Prefect server is configured, credentials may live in its Secret blocks."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        return
    from offering_sync.flows.blocks import load_secret_blocks

    load_secret_blocks(*systems)


def _pipeline_name(value: str | None) -> str | None:
    """``digitalchalk:rhythm`` or ``digitalchalk->rhythm`` (the shell eats a bare ``>``)."""
    if value is None:
        return None
    return value.replace(":", "->") if "->" not in value else value


@app.command()
def systems(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the installed systems (plugins), their directions and where they come from."""
    from offering_sync.app.registry import all_systems

    found = all_systems()
    if as_json:
        out.print_json(json.dumps([{"slug": s.slug, "title": s.title,
                                    "directions": list(s.directions),
                                    "module": s.settings_class.__module__}
                                   for s in found.values()]))
        return
    table = Table(title="systems")
    for column in ("system", "title", "source", "target", "package"):
        table.add_column(column)
    for spec in found.values():
        table.add_row(spec.slug, spec.title, "yes" if spec.make_source else "no",
                      "yes" if spec.make_target else f"no ({spec.note})" if spec.note else "no",
                      spec.settings_class.__module__.split(".")[0])
    out.print(table)


@app.command()
def emulate(
    systems: Annotated[list[str], typer.Argument(
        help="digitalchalk, salesforce, rhythm, smarterproctoring")],
    records: Annotated[int, typer.Option(help="Offerings the DigitalChalk emulator serves.")] = 50,
    port: Annotated[int, typer.Option(help="First port; 0 picks free ports.")] = 0,
) -> None:
    """Start emulators on loopback and print their base URLs and demo credentials."""
    from offering_sync.emulators import server

    running = []
    for index, name in enumerate(systems):
        if name not in server.EMULATORS:
            raise ConfigError(f"no emulator for {name!r}; known: {', '.join(server.EMULATORS)}")
        kwargs: dict[str, Any] = {}
        if name == "digitalchalk":
            from offering_sync.emulators.digitalchalk import Catalog

            kwargs["catalog"] = Catalog(records)
        app_ = server.EMULATORS[name](**kwargs)
        running.append(server.start(app_, port + index if port else 0))
        env = server.connection_env(name, running[-1].url)
        out.print(f"[bold]{name}[/] at {running[-1].url}")
        for key, value in env.items():
            out.print(f"  export {key}={value}")
    out.print("Press Ctrl-C to stop.")
    try:
        while True:
            running[0].thread.join(1)
    except KeyboardInterrupt:
        for r in running:
            r.stop()


@app.command()
def demo(records: Annotated[int, typer.Option(help="Offerings to generate.")] = 200,
         changes: Annotated[int, typer.Option(help="Source offerings to edit before run 3.")] = 5,
         ) -> None:
    """Three Prefect-flow syncs against local emulators: create all, no-op, update the edits."""
    from offering_sync.flows.demo import run_demo

    run_demo(records, changes, out)


class Terminated(KeyboardInterrupt):
    """SIGTERM (Prefect's cancellation, ``kill``): ends a run as cleanly as Ctrl-C does."""


_signalled: list[int] = []


def _on_sigterm(signum: int, _frame: Any) -> None:
    _signalled.append(signum)
    raise Terminated()


def main() -> None:
    """Console-script entry point: one clear sentence for user errors, never a traceback."""
    import os
    import signal

    from offering_sync.flows import prefect_defaults
    from offering_sync.redact import install_log_redaction, redact

    install_log_redaction()
    prefect_defaults()  # before Prefect is imported: quiet, offline-friendly defaults
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = app(standalone_mode=False)
    except (ConfigError, MappingError, Unauthorized) as exc:  # a setting to fix
        err.print(f"[red]error:[/] {exc}", markup=True, highlight=False)
        sys.exit(2)
    except SyncError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Terminated:
        err.print("[yellow]terminated: the run was recorded as cancelled and its lock "
                  "released[/]")
        sys.exit(143)
    except KeyboardInterrupt:
        err.print("[yellow]stopped: the run was recorded as cancelled and its lock released[/]")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - boundary: usage errors and the unforeseen
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()  # click's (or typer's own copy of click's) usage errors: the usage panel
            sys.exit(exit_code)
        if exc.__class__.__name__ == "Abort":  # click turns Ctrl-C (and our SIGTERM) into Abort
            if isinstance(exc.__cause__ or exc.__context__, Terminated):
                err.print("[yellow]terminated: the run was recorded as cancelled and its lock "
                          "released[/]")
                sys.exit(143)
            err.print("[yellow]stopped: the run was recorded as cancelled and its lock "
                      "released[/]")
            sys.exit(130)
        if os.environ.get("OFFERING_SYNC_DEBUG"):
            raise
        err.print(f"[red]error:[/] unexpected {exc.__class__.__name__}: "
                  f"{redact(str(exc))[:500]} (set OFFERING_SYNC_DEBUG=1 to see where)",
                  highlight=False)
        sys.exit(1)
    if code == 130:  # typer's click turns Ctrl-C (and our SIGTERM) into exit status 130
        terminated = bool(_signalled)
        err.print(f"[yellow]{'terminated' if terminated else 'stopped'}: the run was recorded "
                  "as cancelled and its lock released[/]")
        sys.exit(143 if terminated else 130)
    sys.exit(code if isinstance(code, int) else 0)
