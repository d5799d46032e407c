"""Settings of the Prefect layer only: flow retries and how long a run waits for a slot.

Read from ``OFFERING_SYNC_*`` like the core settings, so a work pool's ``job_variables.env``
(see prefect.yaml) sets them per worker. Retries are read when ``flows.sync`` is imported,
which for a deployed run is the flow-run process the worker started. They live here, in the
composition root, because both the flows and ``offering-sync ops env`` read them, and the
composition root never imports the flows.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["FlowSettings"]


class FlowSettings(BaseSettings):
    """How the flows retry and wait; the engine knows none of this."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_", env_file=".env",
                                      extra="ignore")

    flow_retries: int = Field(
        default=2, ge=0,
        description="Times a sync run is retried after a whole-run transient failure (source "
        "or target unreachable after the connector's own retries, another run holding the "
        "lock, no slot in time). Safe: the lock and resume load nothing twice.")
    flow_retry_delay_seconds: float = Field(
        default=60, ge=0, description="Wait before such a retry.")
    slot_wait_seconds: float = Field(
        default=240, gt=0,
        description="Longest wait of one batch for a slot of the target-<system> global "
        "concurrency limit; a log line names the limit every slot_log_seconds meanwhile. "
        "Kept under the state lock's TTL (300 s), and well over a leaked slot's 75 s.")
    pipeline_wait_seconds: float = Field(
        default=3600, gt=0,
        description="Longest wait of a run for the pipeline-<source>-<target> slot while "
        "another run of the same pipeline (another deployment, a manual run) is busy.")
    slot_lease_seconds: float = Field(
        default=60, ge=60, le=86400,
        description="Lease of a held slot. The holder renews it while alive; a killed holder's "
        "slot comes back after at most this plus the server's repossessor loop (15 s). "
        "Prefect's server refuses leases under 60 s.")
    slot_log_seconds: float = Field(
        default=10, gt=0, description="How often a waiting run logs that it waits.")
    task_seconds: float = Field(
        default=2.0, gt=0,
        description="About how long one load-batches task loads (issue 17): a task starts "
        "with as many batches as load at once and doubles while it takes less than half this, "
        "so Prefect's cost per task run stays small beside the work it wraps.")
    task_max_batches: int = Field(
        default=50, ge=1, description="Most batches one load-batches task loads.")
