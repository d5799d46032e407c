"""Offset paging with several pages in flight, yielded in order (issue 17).

An offset-paged listing names the next page's offset only in the answer, but it is nearly
always ``offset + limit``: so up to ``k`` pages are asked for at once on that guess. Pages are
handed out strictly in listing order. When an answer says the next page starts elsewhere (a short
page with more to come) the guesses in flight are dropped and asking resumes at the offset the
answer named; when it says the listing ended, the guesses past the end are dropped. The cost of a
wrong guess is at most ``k - 1`` extra GETs; the records read are the same as one page at a time.
A listing whose pages keep coming back short is read one page at a time after the second wrong
guess, so its cost stays bounded (at most ``3 (k - 1)`` extra GETs in all, the end included).
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["offset_pages"]

T = TypeVar("T")
_MISSES_BEFORE_SEQUENTIAL = 2


def offset_pages(fetch: Callable[[int], tuple[T | None, int | None]], start: int, step: int,
                 in_flight: int) -> Iterator[T]:
    """Yield ``fetch(offset)``'s pages in order, up to ``in_flight`` fetches at once.

    ``fetch`` answers ``(page, next_offset)``: ``page`` None yields nothing, ``next_offset`` None
    ends the listing. It runs on worker threads; its errors reach the caller when (and only if)
    its page is the next one due, so a failed guess past the end costs nothing.
    """
    if in_flight <= 1:
        offset: int | None = start
        while offset is not None:
            page, offset = fetch(offset)
            if page is not None:
                yield page
        return
    pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="pages")
    window: deque[tuple[int, Future[tuple[T | None, int | None]]]] = deque()
    guess, misses = start, 0

    def fill() -> None:
        nonlocal guess
        while len(window) < (in_flight if misses < _MISSES_BEFORE_SEQUENTIAL else 1):
            context = contextvars.copy_context()
            window.append((guess, pool.submit(context.run, fetch, guess)))
            guess += step

    try:
        fill()
        while window:
            _offset, future = window.popleft()
            page, following = future.result()
            if page is not None:
                yield page
            if following is None:
                return
            if window and window[0][0] != following:  # the guess was wrong: ask again there
                misses += 1
                _drop(window)
            if not window:
                guess = following
            fill()
    finally:
        _drop(window)
        pool.shutdown(wait=True, cancel_futures=True)


def _drop(window: deque[tuple[int, Future[Any]]]) -> None:
    for _offset, future in window:
        future.cancel()
    window.clear()
