"""The live line on a terminal: counts, records/s, and a bar with ETA when a total is known.

A bar appears where the source says how many records it holds (``Page.total``). The line goes
to stderr and only when stderr is a terminal, so pipes, files, cron mails and ``--json``
output never see it. The final line stays on screen when the run ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from offering_sync.engine import Counts

__all__ = ["reading_progress", "sync_progress"]


class _WithTotal(ProgressColumn):
    """Shows ``inner`` only for a task whose total is known (nothing to fill otherwise)."""

    def __init__(self, inner: ProgressColumn) -> None:
        super().__init__()
        self.inner = inner

    def render(self, task: Task) -> Any:
        return self.inner.render(task) if task.total else Text("")


class _OfTotal(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,}" if task.total else "")


class _Rate(ProgressColumn):
    """Records per second since the start (steadier than rich's windowed speed)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        rate = task.fields.get("done", task.completed) / elapsed if elapsed > 0 else 0.0
        return Text(f"{rate:,.0f} records/s")


class _Eta(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed, total = task.elapsed or 0.0, task.total
        if not total or task.completed >= total or task.completed <= 0 or elapsed <= 0:
            return Text("")
        left = (total - task.completed) / (task.completed / elapsed)
        minutes, seconds = divmod(round(left), 60)
        return Text(f"ETA {minutes}:{seconds:02d}")


def _progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), _WithTotal(BarColumn()),
                    _OfTotal(), _Rate(), _Eta(), TimeElapsedColumn(), console=console,
                    transient=False, redirect_stdout=False, redirect_stderr=False)


def _line(c: Counts) -> str:
    return (f"{c.extracted:,} extracted · {c.created:,} created · {c.updated:,} updated · "
            f"{c.unchanged:,} unchanged · {c.failed:,} failed")


@contextmanager
def sync_progress(console: Console, label: str) -> Iterator[Callable[[Counts], None] | None]:
    """A progress callback for ``sync_pipeline``, or None when stderr is not a terminal."""
    if not console.is_terminal:
        yield None
        return
    with _progress(console) as bar:
        task = bar.add_task(f"{label}: reading…", total=None, done=0)

        def show(c: Counts) -> None:
            total = c.source_total if c.source_total and c.source_total > 0 else None
            bar.update(task, description=f"{label}: {_line(c)}", total=total,
                       completed=min(c.extracted, total) if total else c.extracted,
                       done=c.extracted)

        yield show


@contextmanager
def reading_progress(console: Console,
                     ) -> Iterator[Callable[[str, int, int | None], None] | None]:
    """A callback ``(side, records read, total or None)`` for reconcile's two listings."""
    if not console.is_terminal:
        yield None
        return
    with _progress(console) as bar:
        tasks: dict[str, TaskID] = {}

        def show(side: str, count: int, total: int | None) -> None:
            if side not in tasks:
                for other in tasks.values():
                    bar.stop_task(other)
                tasks[side] = bar.add_task(f"reading {side}", total=total, done=0)
            bar.update(tasks[side], description=f"reading {side}: {count:,} offerings",
                       total=total or None, completed=min(count, total) if total else count,
                       done=count)

        yield show
