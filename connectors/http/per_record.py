"""Drive a per-record API with bounded concurrency, one ``LoadResult`` per input, in order.

A record the vendor refuses (``Rejected``) becomes a failed result and the rest go on; failures
of the whole service (transient after retries, credentials, quota) stop the batch, so an
outage is not mistaken for a thousand bad records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from offering_sync.errors import Rejected
from offering_sync.records import LoadResult

__all__ = ["load_each"]

T = TypeVar("T")


def load_each(items: Sequence[T], key: Callable[[T], str], load: Callable[[T], LoadResult],
              *, concurrency: int) -> list[LoadResult]:
    """Run ``load`` on every item, at most ``concurrency`` at a time."""
    def one(item: T) -> LoadResult:
        try:
            return load(item)
        except Rejected as exc:
            return LoadResult(key(item), ok=False,
                              errors=((None, exc.vendor_message or str(exc)),))

    if concurrency <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items)),
                            thread_name_prefix="load") as pool:
        return list(pool.map(one, items))
