"""``offering-sync emulate`` and ``demo``: the vendors' emulators on loopback, and the demo.

``emulate`` prints only ``export`` lines on stdout and closes it, with everything else on
stderr, so ``eval "$(offering-sync emulate --detach digitalchalk salesforce)"`` sets up a
shell, and ``offering-sync emulate digitalchalk > env.sh`` writes a file to ``source``.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from typing import Annotated, Any

import typer

from offering_sync.app.commands.output import err, out
from offering_sync.errors import ConfigError

__all__ = ["demo", "emulate"]

PID_VARIABLE = "OFFERING_SYNC_EMULATOR_PID"


def emulate(
    systems: Annotated[list[str], typer.Argument(
        help="digitalchalk, salesforce, rhythm, smarterproctoring")],
    records: Annotated[int, typer.Option(help="Offerings the DigitalChalk emulator serves.")] = 50,
    port: Annotated[int, typer.Option(help="First port; 0 picks free ports.")] = 0,
    detach: Annotated[bool, typer.Option(
        help="Keep them running in the background and return, for eval \"$(…)\"; the "
        f"exports include {PID_VARIABLE} to stop them with kill.")] = False,
) -> None:
    """Start emulators on loopback; print `export` lines for their URLs and demo credentials."""
    from offering_sync.emulators import server

    for name in systems:
        if name not in server.EMULATORS:
            raise ConfigError(f"no emulator for {name!r}; known: {', '.join(server.EMULATORS)}")
    if detach:
        _detach(systems, records, port)
        return
    running = []
    for index, name in enumerate(systems):
        kwargs: dict[str, Any] = {}
        if name == "digitalchalk":
            from offering_sync.emulators.digitalchalk import Catalog

            kwargs["catalog"] = Catalog(records)
        running.append(server.start(server.EMULATORS[name](**kwargs), port + index if port else 0))
        err.print(f"# {name} emulator at {running[-1].url}", highlight=False)
        for key, value in server.connection_env(name, running[-1].url).items():
            print(f"export {key}={shlex.quote(value)}")
    _close_stdout()
    err.print("# Press Ctrl-C to stop them.", highlight=False)
    try:
        while True:
            running[0].thread.join(1)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (cli.main turns it into one)
        for r in running:
            r.stop()


def _close_stdout() -> None:
    """End stdout here, so a reader (``$(…)``, ``> env.sh``, a pipe) sees the end of the list."""
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _detach(systems: list[str], records: int, port: int) -> None:
    """Run the emulators in a process of their own session; print its exports and its pid."""
    args = [sys.executable, "-c", "from offering_sync.app.cli import main; main()", "emulate",
            *systems, "--records", str(records), "--port", str(port)]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,  # noqa: S603
                             stdin=subprocess.DEVNULL, start_new_session=True, text=True)
    assert child.stdout is not None
    lines = child.stdout.read().splitlines()  # the child closes its stdout once it serves
    child.stdout.close()
    if child.poll() is not None or not lines:
        raise ConfigError(f"the emulators did not start (exit status {child.wait()})")
    for line in lines:
        print(line)
    print(f"export {PID_VARIABLE}={child.pid}")
    err.print(f"# emulators running in the background (process {child.pid}); stop them with: "
              f"kill ${PID_VARIABLE}", highlight=False)


def demo(records: Annotated[int, typer.Option(help="Offerings to generate.")] = 200,
         changes: Annotated[int, typer.Option(help="Source offerings to edit before run 3.")] = 5,
         ) -> None:
    """Three Prefect-flow syncs against local emulators: create all, no-op, update the edits."""
    from offering_sync.flows.demo import run_demo

    run_demo(records, changes, out)
