"""Prefect flows and tasks: orchestration only; the work is done by ``offering_sync``.

Importing this package sets quiet, offline-friendly Prefect defaults (no telemetry, a task-run
recorder that keeps up with one task per batch) unless the environment already chose.
"""

import os

for _key, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS": "8",
}.items():
    os.environ.setdefault(_key, _value)
