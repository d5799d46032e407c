"""The ``sync-offerings`` flow: one Prefect task per loaded batch around the plain engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from prefect import flow, get_run_logger, tags, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.runtime import flow_run

from offering_sync.app.compose import build_pipeline
from offering_sync.engine import Counts, SyncOptions, sync_pipeline
from offering_sync.errors import TransientError
from offering_sync.flows.artifacts import publish_summary
from offering_sync.flows.blocks import load_secret_blocks
from offering_sync.redact import install_log_redaction
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["System", "sync_offerings"]

install_log_redaction()  # every log record of a flow run is scrubbed of registered secrets

T = TypeVar("T")
System = Literal["digitalchalk", "salesforce", "rhythm", "smarterproctoring"]


def _only_transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a batch task only when it failed for a reason that may pass."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final for this task
        return False
    return False


@task(name="load-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=_only_transient, log_prints=False)
def load_batch(step: Callable[[], T], limit: str | None = None) -> T:
    """Send one batch to the target and record its results (the engine's step).

    ``limit`` names a global concurrency limit shared by every deployment writing to the same
    vendor, so that together they stay inside its quota.
    """
    if limit is None:
        return step()
    with concurrency(limit, occupy=1, strict=False):
        return step()


def _run_name() -> str:
    params = flow_run.parameters
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"{params.get('source')}→{params.get('target')} {stamp}"


def _target_limit(target: str) -> str | None:
    """``target-<system>`` if such a global concurrency limit exists (checked once a run)."""
    from prefect import get_client

    name = f"target-{target}"
    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
    except Exception:  # noqa: BLE001 - absent (or unreadable): run without it
        return None
    return name


@flow(name="sync-offerings", flow_run_name=_run_name, validate_parameters=True)
def sync_offerings(source: System, target: System, full_refresh: bool = False,
                   since: datetime | None = None, until: datetime | None = None,
                   dry_run: bool = False) -> dict[str, Any]:
    """Sync offerings from ``source`` to ``target``; returns the run's counts.

    ``since``/``until`` (ISO 8601) bound a backfill; ``full_refresh`` ignores the watermark;
    ``dry_run`` plans without writing.
    """
    logger = get_run_logger()
    if since and until and until < since:
        raise ValueError(f"until ({until}) is before since ({since})")
    blocks = load_secret_blocks(source, target)
    if blocks:
        logger.info("credentials from Secret blocks: %s", ", ".join(blocks))
    settings = CoreSettings()
    pipeline = build_pipeline(source, target, settings)
    store = StateStore(settings.state_url)
    start, end = (_aware(since), _aware(until))
    options = SyncOptions(full_refresh=full_refresh, since=start, until=end, dry_run=dry_run,
                          mode="full" if full_refresh else "backfill" if start or end
                          else "incremental", lock_ttl_seconds=settings.lock_ttl_seconds,
                          max_failure_ratio=settings.max_failure_ratio)
    limit = _target_limit(target)
    progress_id = cast(UUID, create_progress_artifact(
        progress=0.0, key=f"{source}-{target}-progress", description="records extracted so far"))
    seen = {"pages": 0}

    def run_batch(label: str, step: Callable[[], T]) -> T:
        return load_batch.with_options(task_run_name=label)(step, limit)

    def progress(counts: Counts) -> None:
        seen["pages"] += 1
        if seen["pages"] % 20 == 0:  # a few updates, not one per page
            update_progress_artifact(progress_id, progress=min(99.0, seen["pages"] / 10),
                                     description=f"{counts.extracted} extracted")

    try:
        with tags(f"source-{source}", f"target-{target}"):
            summary = sync_pipeline(pipeline, store, options, run_batch=run_batch,
                                    logger=logger, progress=progress)
    finally:
        pipeline.source.close()
        pipeline.target.close()
        store.close()
    update_progress_artifact(progress_id, progress=100.0,
                             description=f"{summary.counts.extracted} extracted")
    publish_summary(summary)
    if summary.counts.failed:
        logger.warning("%d of %d records were not synced; see the dead-letters artifact",
                       summary.counts.failed, summary.counts.extracted)
    if summary.status == "failed":
        raise RuntimeError(f"run {summary.run_id} failed: {summary.message or 'too many failures'}")
    return summary.as_dict()


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
