"""Prefect flows and tasks: orchestration only; the work is done by ``offering_sync``.

Importing this package changes nothing global. ``prefect_defaults()`` sets quiet,
offline-friendly Prefect defaults (no telemetry, a task-run recorder that keeps up with one task
per batch, a bounded thread pool) where the environment has not chosen; the command line calls
it at start, and so may your own program before it runs a flow with an ephemeral server.
"""

import os

__all__ = ["PREFECT_DEFAULTS", "prefect_defaults"]

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "8",
}


def prefect_defaults() -> None:
    """Set ``PREFECT_DEFAULTS`` in this process's environment where nothing is set yet."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
