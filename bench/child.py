"""One DigitalChalk → Salesforce sync in a process of its own: ``python -m bench.child '{...}'``.

The benchmark runs every sync here so that memory starts clean and ``getrusage`` counts this
sync's CPU and nothing else (the emulators and the Prefect server are other processes). The
argument is a JSON object: ``mode`` is ``engine`` (the plain engine; ``"sync_log": false`` drops
the per-record log rows, to measure what they cost), ``flow`` (the shipped
``sync-offerings`` flow) or ``tasks`` (a bench flow with one Prefect task around every ``every``-th
batch, to measure what a task costs); ``profile`` names a file for an all-thread cProfile.
Connection settings come from the environment. Prints one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _engine(sync_log: bool = True) -> Callable[[], dict[str, Any]]:
    """The plain engine, its set-up timed too (settings, mappings and lookups, the state store),
    as the flow's is: "the same sync without Prefect" does the same work."""
    from offering_sync.app.compose import build_pipeline
    from offering_sync.engine import sync_pipeline
    from offering_sync.settings import CoreSettings
    from offering_sync.state import StateStore

    if not sync_log:  # what the per-record sync log costs: the same run without its rows
        _drop_sync_log(StateStore)

    def run() -> dict[str, Any]:
        settings = CoreSettings()
        pipeline = build_pipeline("digitalchalk", "salesforce", settings)
        store = StateStore(settings.state_url)
        try:
            return sync_pipeline(pipeline, store, settings.options()).as_dict()
        finally:
            pipeline.source.close()
            pipeline.target.close()
            store.close()

    return run


def _drop_sync_log(store_class: Any) -> None:
    """Make ``record_batch`` write everything but the sync-log rows (a bench-only switch)."""
    commit = store_class.record_batch

    def without_log(self: Any, **kwargs: Any) -> None:
        commit(self, **{**kwargs, "log": ()})

    store_class.record_batch = without_log


def _warm_prefect() -> None:
    """Start the ephemeral server (or reach the standing one) outside the timed region."""
    from prefect import flow

    import offering_sync.flows  # noqa: F401 - the project's Prefect defaults, before Prefect loads

    @flow(name="bench-warm-up")
    def warm_up() -> None:
        """Nothing: the first flow call starts the temporary server."""

    warm_up()


def _flow() -> Callable[[], dict[str, Any]]:
    _warm_prefect()
    from offering_sync.flows.sync import sync_offerings

    return lambda: dict(sync_offerings(source="digitalchalk", target="salesforce"))


def _tasks(every: int) -> Callable[[], dict[str, Any]]:
    """A flow around the engine with a task around every ``every``-th batch (0: none).

    The other batches run directly, so the run has the Prefect task runs of "one task per
    ``every`` batches" while the work stays the same: what it measures is the cost of a task run.
    """
    _warm_prefect()
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from offering_sync.app.compose import build_pipeline
    from offering_sync.engine import sync_pipeline
    from offering_sync.settings import CoreSettings
    from offering_sync.state import StateStore

    @task(name="load-batches", cache_policy=NO_CACHE, retries=2)
    def load(step: Callable[[], T]) -> T:
        return step()

    @flow(name="bench-task-sizing")
    def tasks_flow() -> dict[str, Any]:
        settings = CoreSettings()
        pipeline = build_pipeline("digitalchalk", "salesforce", settings)
        store = StateStore(settings.state_url)
        seen = [0]

        def run_batch(label: str, step: Callable[[], T]) -> T:
            seen[0] += 1
            if every and seen[0] % every == 1 % every:
                return load.with_options(task_run_name=label)(step)
            return step()

        try:
            summary = sync_pipeline(pipeline, store, settings.options(), run_batch=run_batch)
        finally:
            pipeline.source.close()
            pipeline.target.close()
            store.close()
        return {**summary.as_dict(), "task_runs": (seen[0] + every - 1) // every if every else 0}

    return tasks_flow


def main() -> None:
    """Run the sync described by argv[1] and print its figures as one JSON line."""
    spec: dict[str, Any] = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    mode = spec.get("mode", "engine")
    if mode == "engine":
        run = _engine(sync_log=bool(spec.get("sync_log", True)))
    elif mode == "flow":
        run = _flow()
    elif mode == "tasks":
        run = _tasks(int(spec.get("every", 1)))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    profile_path = spec.get("profile")
    cpu, started = _cpu(), time.perf_counter()
    if profile_path:
        from bench.profiling import all_threads

        with all_threads() as profiles:
            summary = run()
    else:
        summary = run()
    seconds, cpu_s = time.perf_counter() - started, _cpu() - cpu
    out = {**summary, "seconds": round(seconds, 3), "cpu_s": round(cpu_s, 3),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if profile_path:
        profiles.dump(Path(profile_path))
        out["profile"] = profiles.summary()
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
