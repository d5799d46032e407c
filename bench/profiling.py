"""A deterministic profile of every thread of a sync, and the few lines worth reading from it.

``cProfile`` alone sees only the thread that enabled it, and a sync works in three (the main
thread maps and plans, a reader fetches pages ahead, a loader posts batches and records them).
``all_threads`` gives each thread started inside it a profiler of its own, so the report can say
how much CPU each stage took and which functions cost most overall. Deterministic profiling
inflates many-small-call code by roughly 1.5-2×, so the shares matter more than the seconds.
Each profiler's clock is its thread's CPU time (``time.thread_time``), so waiting on a socket or a
lock costs nothing here: the figures are CPU, not wall-clock.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["ThreadProfiles", "all_threads", "pyspy_summary"]


class ThreadProfiles:
    """The profiles collected by ``all_threads``, by thread name."""

    def __init__(self) -> None:
        self.by_thread: list[tuple[str, cProfile.Profile]] = []
        self.lock = threading.Lock()

    def add(self, name: str, profile: cProfile.Profile) -> None:
        with self.lock:
            self.by_thread.append((name, profile))

    def merged(self) -> pstats.Stats:
        stats = pstats.Stats(self.by_thread[0][1], stream=io.StringIO())
        for _name, profile in self.by_thread[1:]:
            stats.add(profile)
        return stats

    def summary(self, top: int = 25) -> dict[str, Any]:
        """CPU seconds per thread kind and the top functions by own time and by cumulative."""
        threads: dict[str, float] = {}
        for name, profile in self.by_thread:
            stats = pstats.Stats(profile, stream=io.StringIO())
            kind = name.rstrip("0123456789_-") or name
            threads[kind] = round(threads.get(kind, 0.0) + stats.total_tt, 3)  # type: ignore[attr-defined]
        merged = self.merged()
        total = merged.total_tt  # type: ignore[attr-defined]
        rows = merged.stats  # type: ignore[attr-defined]

        def label(func: tuple[str, int, str]) -> str:
            file, line, name = func
            short = file.split("site-packages/")[-1].split("/h5/")[-1].split("/main/")[-1]
            return f"{short}:{line}({name})" if line else name

        def pick(index: int) -> list[dict[str, Any]]:
            ordered = sorted(rows.items(), key=lambda kv: -kv[1][index])[:top]
            return [{"function": label(func), "calls": calls, "own_s": round(tt, 3),
                     "cum_s": round(ct, 3), "own_share": round(tt / total, 3) if total else 0}
                    for func, (_cc, calls, tt, ct, _callers) in ordered]

        return {"profiled_cpu_s": round(total, 3), "threads": threads, "top_own": pick(2),
                "top_cumulative": pick(3)}

    def dump(self, path: Path) -> None:
        """The merged profile for ``python -m pstats`` or snakeviz."""
        self.merged().dump_stats(str(path))


@contextmanager
def all_threads() -> Iterator[ThreadProfiles]:
    """Profile this thread and every thread started while inside."""
    profiles = ThreadProfiles()
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()
            profiles.add(self.name, profile)

    main = cProfile.Profile(time.thread_time)
    threading.Thread.run = run  # type: ignore[method-assign]
    main.enable()
    try:
        yield profiles
    finally:
        main.disable()
        threading.Thread.run = original  # type: ignore[method-assign]
        profiles.add("main", main)


# -- sampled (py-spy) ---------------------------------------------------------------------------

_STDLIB = frozenset(sys.stdlib_module_names) | {"<frozen"}
_CATEGORIES = (  # the first frame from the leaf up that is not the standard library decides
    ("offering_sync/diff.py", "content hash (diff.py)"),
    ("<mapping>", "mapping (compiled functions + transforms)"),
    ("offering_sync/mapping/", "mapping (compiled functions + transforms)"),
    ("pydantic", "validation (pydantic)"),
    ("offering_sync/model.py", "validation (pydantic)"),
    ("sqlalchemy/", "state store (SQLAlchemy + sqlite3)"),
    ("alembic/", "state store (SQLAlchemy + sqlite3)"),
    ("offering_sync/state/", "state store (SQLAlchemy + sqlite3)"),
    ("httpx/", "HTTP client (httpx, httpcore, JSON decode)"),
    ("httpcore/", "HTTP client (httpx, httpcore, JSON decode)"),
    ("h11/", "HTTP client (httpx, httpcore, JSON decode)"),
    ("offering_sync/connectors/", "HTTP client (httpx, httpcore, JSON decode)"),
    ("tenacity/", "HTTP client (httpx, httpcore, JSON decode)"),
    ("offering_sync/engine/load.py", "engine: load step (results, log rows)"),
    ("offering_sync/engine/", "engine: plan, bookkeeping"),
    ("offering_sync/pipelining.py", "engine: plan, bookkeeping"),
    ("prefect/", "Prefect client"),
)
_ROLES = (("fill (offering_sync/pipelining.py", "reader"), ("Loader._load_group", "loader"),
          ("Heartbeat", "heartbeat"), ("sync_pipeline (", "main"), ("sync_offerings", "main"))


def _frame_file(frame: str) -> str:
    return frame.rsplit("(", 1)[-1].rsplit(":", 1)[0]


def _stdlib(file: str) -> bool:
    top = file.split("/", 1)[0].removesuffix(".py")
    return top in _STDLIB or file.startswith("<frozen")


_WHOLE_STACK = (  # work named by a caller anywhere in the stack, whatever the leaf
    ("SalesforceTarget._stamps (", "Salesforce stamp queries (SOQL by Id around each POST)"),
)


def _category(frames: list[str]) -> str:
    for marker, name in _WHOLE_STACK:
        if any(frame.startswith(marker) for frame in frames):
            return name
    for frame in reversed(frames):
        file = _frame_file(frame)
        if _stdlib(file):
            if file.startswith("logging/"):
                return "logging"
            continue
        for prefix, name in _CATEGORIES:
            if file.startswith(prefix):
                return name
        return "other: " + file.split("/", 1)[0]
    return "standard library only"


def pyspy_summary(raw: Path, top: int = 25) -> dict[str, Any]:
    """Shares by role (thread), by category and by function from ``py-spy record -f raw``.

    Samples outside the sync (start-up imports, building the pipeline) are counted apart as
    ``outside_sync`` so they do not dilute the shares.
    """
    roles: dict[str, int] = {}
    categories: dict[str, int] = {}
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    outside = total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")[1:]  # the first is the thread
        role = next((name for key, name in _ROLES if any(key in f for f in frames)), None)
        if role is None:
            outside += count
            continue
        total += count
        roles[role] = roles.get(role, 0) + count
        category = _category(frames)
        categories[category] = categories.get(category, 0) + count
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count

    def shares(counts: dict[str, int], limit: int | None = None) -> list[dict[str, Any]]:
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])[:limit]
        return [{"name": k, "samples": v, "share": round(v / total, 3) if total else 0}
                for k, v in ordered]

    return {"samples": total, "outside_sync": outside, "roles": shares(roles),
            "categories": shares(categories), "top_own": shares(own, top),
            "top_inclusive": shares({k: v for k, v in inclusive.items()
                                     if not _stdlib(_frame_file(k))}, top)}
