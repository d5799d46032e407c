"""The ``sync-offerings`` flow: one Prefect task per loaded batch around the plain engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from connectors.http.redact import install_log_redaction
from flows.artifacts import publish_summary
from offering_sync.compose import build_pipeline
from offering_sync.engine import SyncOptions, sync_pipeline
from offering_sync.errors import ConfigError, TransientError
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["sync_offerings"]

install_log_redaction()  # every log record of a flow run is scrubbed of registered secrets

T = TypeVar("T")


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
def load_batch(step: Callable[[], T]) -> T:
    """Send one batch to the target and record its results (the engine's step)."""
    return step()


def _run_name() -> str:
    params = flow_run.parameters
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"{params.get('source')}→{params.get('target')} {stamp}"


def _parse(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not an ISO 8601 date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@flow(name="sync-offerings", flow_run_name=_run_name, validate_parameters=True)
def sync_offerings(source: str, target: str, full_refresh: bool = False,
                   since: str | None = None, until: str | None = None,
                   dry_run: bool = False) -> dict[str, Any]:
    """Sync offerings from ``source`` to ``target``; returns the run's counts."""
    logger = get_run_logger()
    settings = CoreSettings()
    pipeline = build_pipeline(source, target, settings)
    store = StateStore(settings.state_url)
    start, end = _parse(since, "since"), _parse(until, "until")
    options = SyncOptions(full_refresh=full_refresh, since=start, until=end, dry_run=dry_run,
                          mode="full" if full_refresh else "backfill" if start or end
                          else "incremental", lock_ttl_seconds=settings.lock_ttl_seconds,
                          max_failure_ratio=settings.max_failure_ratio)

    def run_batch(label: str, step: Callable[[], T]) -> T:
        return load_batch.with_options(task_run_name=label)(step)

    try:
        summary = sync_pipeline(pipeline, store, options, run_batch=run_batch, logger=logger)
    finally:
        pipeline.source.close()
        pipeline.target.close()
        store.close()
    publish_summary(summary)
    if summary.counts.failed:
        logger.warning("%d of %d records were not synced; see the dead-letters artifact",
                       summary.counts.failed, summary.counts.extracted)
    if summary.status == "failed":
        raise RuntimeError(f"run {summary.run_id} failed: {summary.message or 'too many failures'}")
    return summary.as_dict()
