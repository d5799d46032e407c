"""Overlap I/O with CPU: read ahead of an iterator, and run one batch behind the caller.

Both use a single worker thread and carry the caller's context variables (Prefect's run context
among them), so a Prefect task started from the worker still belongs to its flow run. Errors
surface in the caller at the next hand-over, never lost.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Behind", "read_ahead"]

T = TypeVar("T")
_END = object()


def read_ahead(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` while a thread fetches up to ``depth`` of them ahead."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    context = contextvars.copy_context()

    def fill() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer below
            slots.put(exc)

    worker = threading.Thread(target=context.run, args=(fill,), daemon=True,
                              name="read-ahead")
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
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
