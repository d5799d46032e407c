"""Overlap I/O with CPU: read ahead of an iterator, and run one batch behind the caller.

Both use a single worker thread and carry the caller's context variables (Prefect's run context
among them), so a Prefect task started from the worker still belongs to its flow run. Errors
surface in the caller at the next hand-over, never lost.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Behind", "read_ahead"]

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], depth: int = 2, *, budget: int = 0,
               size: Callable[[T], int] | None = None) -> Iterator[T]:
    """Yield ``items`` while a thread fetches ahead, ``depth`` of them or ``budget`` units.

    The thread fetches more than ``depth`` while fewer than ``budget`` units (``size`` of each
    item, e.g. a page's records) wait.

    A budget in records rather than pages decouples reading from loading: while the caller
    waits for a group of batches to load, the reader keeps fetching up to a group's worth of
    records instead of stopping two pages ahead, so a slow call on either side does not stall
    the other. Memory stays bounded by the budget plus one item.
    """
    waiting: deque[Any] = deque()
    held = 0  # units waiting
    ready = threading.Condition()
    stop = threading.Event()
    context = contextvars.copy_context()
    measure: Callable[[Any], int] = size or (lambda _item: 0)

    def room() -> bool:
        return len(waiting) < depth or (budget > 0 and held < budget)

    def hand_over(item: Any, units: int) -> None:
        nonlocal held
        with ready:
            waiting.append((item, units))
            held += units
            ready.notify_all()

    def fill() -> None:
        try:
            for item in items:
                with ready:
                    while not stop.is_set() and not room():
                        ready.wait(0.1)
                if stop.is_set():
                    return
                hand_over(item, measure(item))
            hand_over(_END, 0)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
            hand_over(exc, 0)

    worker = threading.Thread(target=context.run, args=(fill,), daemon=True,
                              name="read-ahead")
    worker.start()
    try:
        while True:
            with ready:
                while not waiting:
                    ready.wait()
                item, units = waiting.popleft()
                held -= units
                ready.notify_all()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        with ready:
            ready.notify_all()
        worker.join(timeout=5)


class Behind:
    """Runs submitted steps one at a time on a worker, at most one in flight."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load")
        self.pending: Future[Any] | None = None

    def submit(self, step: Callable[[], Any]) -> None:
        """Wait for the step in flight (re-raising its error), then start ``step``."""
        self.wait()
        self.pending = self.pool.submit(contextvars.copy_context().run, step)

    def wait(self) -> None:
        """Block until nothing is in flight; re-raise the last step's error."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Stop the worker (after the step in flight, whose error is dropped)."""
        self.pool.shutdown(wait=True)
