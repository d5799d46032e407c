"""The ``offering-sync`` command: assembles the commands of ``offering_sync.app.commands``.

Each command lives in a module of its own; registering one here is one line. ``main`` is the
console-script entry point and the one place user errors become a sentence on stderr: exit 2
for a usage or set-up mistake (typer's usage panel, or one red sentence), 1 for a run that left
records unloaded or failed, 130/143 for Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from offering_sync.app.commands import (
    check,
    dead_letters,
    docs,
    emulate,
    mappings,
    reconcile,
    runs,
    sync,
)
from offering_sync.app.commands.output import err, out
from offering_sync.app.ops import ops_app
from offering_sync.errors import ConfigError, MappingError, SyncError, Unauthorized

__all__ = ["app", "err", "main", "out"]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Keep course offerings in step between education systems.")
mappings_app = typer.Typer(no_args_is_help=True,
                           help="Check the mapping files, or copy them to edit.")
dead_app = typer.Typer(no_args_is_help=True, help="Records that could not be synced.")
app.add_typer(mappings_app, name="mappings")
app.add_typer(dead_app, name="dead-letters")
app.add_typer(ops_app, name="ops")


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


app.command()(sync.sync)
app.command()(runs.runs)
app.command()(runs.history)
app.command()(reconcile.reconcile)
app.command()(docs.docs)
app.command()(docs.systems)
app.command()(emulate.emulate)
app.command()(emulate.demo)
app.command()(check.check)
mappings_app.command("check")(mappings.check)
mappings_app.command("export")(mappings.export)
dead_app.command("list")(dead_letters.list_dead_letters)
dead_app.command("retry")(dead_letters.retry_dead_letters)


class Terminated(KeyboardInterrupt):
    """SIGTERM (Prefect's cancellation, ``kill``): ends a run as cleanly as Ctrl-C does."""


_signalled: list[int] = []


def _on_sigterm(signum: int, _frame: Any) -> None:
    _signalled.append(signum)
    raise Terminated()


def _stopped(terminated: bool) -> None:
    err.print(f"[yellow]{'terminated' if terminated else 'stopped'}: the run was recorded as "
              "cancelled and its lock released[/]")
    sys.exit(143 if terminated else 130)


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
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(2)
    except SyncError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Terminated:
        _stopped(True)
    except KeyboardInterrupt:
        _stopped(False)
    except Exception as exc:  # noqa: BLE001 - boundary: usage errors and the unforeseen
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()  # click's (or typer's own copy of click's) usage errors: the usage panel
            sys.exit(exit_code)
        if exc.__class__.__name__ == "Abort":  # click turns Ctrl-C (and our SIGTERM) into Abort
            _stopped(isinstance(exc.__cause__ or exc.__context__, Terminated))
        if os.environ.get("OFFERING_SYNC_DEBUG"):
            raise
        err.print(f"[red]error:[/] unexpected {exc.__class__.__name__}: "
                  f"{escape(redact(str(exc))[:500])} (set OFFERING_SYNC_DEBUG=1 to see where)",
                  highlight=False)
        sys.exit(1)
    if code == 130:  # typer's click turns Ctrl-C (and our SIGTERM) into exit status 130
        _stopped(bool(_signalled))
    sys.exit(code if isinstance(code, int) else 0)
