"""The ``sync-offerings`` flow: Prefect tasks around groups of loaded batches of the plain engine.

A task per 200-record batch cost more than the batch itself at 0 ms latency (issue 17), so a
``load-batches`` task loads a group of batches: as many as load at once to start with, doubling
while a task takes under ``OFFERING_SYNC_TASK_SECONDS`` / 2 (2 s by default) up to
``OFFERING_SYNC_TASK_MAX_BATCHES``. Its retries are still meaningful: a retry sends only the
batches of its group not yet committed. Progress shows in the run's progress artifact (per page
read) and in each task's log lines (one per batch).

What the flow adds to the engine, all of it orchestration:

- runs of one pipeline take turns: a deployment's own runs queue in Prefect
  (``concurrency_limit`` with ``collision_strategy: ENQUEUE`` in prefect.yaml), and runs of the
  same pipeline from other deployments wait for the ``pipeline-<source>-<target>`` slot, which
  the flow creates on first use; the state store's lock stays the last guard;
- batches to one vendor share its quota through the ``target-<system>`` global concurrency
  limit (when it exists): each batch in flight holds a slot, waited for with a bound and a log
  line (``flows.slots``);
- whole-run transient failures (a system unreachable after the connector's retries, the lock
  held, no slot in time) are retried as Prefect flow-run retries; the lock and resume make a
  retry load nothing twice. Other failures end the run at once;
- the end state says what happened: counts in every state message, "Completed with failures"
  when records failed (``flows.outcome``).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from prefect import flow, get_client, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.states import Failed

from offering_sync.app.compose import build_pipeline, keep_tokens_in, token_details
from offering_sync.app.flow_settings import FlowSettings
from offering_sync.engine import SyncOptions, sync_pipeline
from offering_sync.errors import LockHeld, SyncError, TransientError
from offering_sync.flows import slots
from offering_sync.flows.artifacts import Progress, publish_summary
from offering_sync.flows.blocks import load_secret_blocks
from offering_sync.flows.outcome import RunFailed, counts_text, final_state
from offering_sync.redact import redacting
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["RETRYABLE", "RetryableRunFailure", "System", "run_stamp", "sync_offerings"]

T = TypeVar("T")
System = Literal["digitalchalk", "salesforce", "rhythm", "smarterproctoring"]
Conflicts = Literal["source-wins", "target-wins", "dead-letter"]
Deletes = Literal["report", "deactivate", "delete"]
FLOW = FlowSettings()


class RetryableRunFailure(RunFailed):
    """A whole-run failure that may pass by itself: worth a flow-run retry."""


# Whole-run failures that may pass by themselves: a flow-run retry is worth it. Any other
# SyncError (settings, credentials, a rejected request, too many failed records) ends the run.
RETRYABLE: tuple[type[Exception], ...] = (TransientError, LockHeld, slots.SlotWaitTimeout,
                                          RetryableRunFailure)


def _only_transient(_task: Any, _run: Any, state: Any) -> bool:
    """Retry a batch task only when it failed for a reason that may pass."""
    try:
        state.result()
    except TransientError:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final for this task
        return False
    return False


@task(name="load-batches", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=_only_transient, log_prints=False)
def load_batches(step: Callable[[], T]) -> T:
    """Send a group of batches to the target and record their results (the engine's step).

    A retry runs the same step again, which sends only the batches not yet committed. The task
    run is named by its first batch when it starts (``create-batch-7``); the step returns the
    group's final label (``create-batches-7-31``: the group took batches while it loaded), and
    the run is renamed to it, so the UI says which batches each task loaded.
    """
    result = step()
    if isinstance(result, str):
        rename_task_run(result)
    return result


def rename_task_run(name: str) -> None:
    """Give the current task run ``name`` with the state it ends in.

    Prefect 3 creates task runs from their state events, so the server may not know this run
    yet (an update by API answered 404). The engine sends the run, name included, with each
    state change, and the server keeps the newest: renaming it here reaches the server with
    the final state.
    """
    context = TaskRunContext.get()
    if context is not None and context.task_run.name != name:
        context.task_run.name = name


def hold_slot(limit: str | None, step: Callable[[], T]) -> T:
    """Run one batch holding a slot of ``limit`` (a global concurrency limit).

    The limit is shared by every deployment writing to the same vendor, so that together they
    stay inside its quota. The wait for the slot is bounded and logged (``flows.slots``).
    """
    if limit is None:
        return step()
    with slots.hold(limit, wait_seconds=FLOW.slot_wait_seconds,
                    lease_seconds=FLOW.slot_lease_seconds, log_seconds=FLOW.slot_log_seconds,
                    logger=get_run_logger(), why="the target's shared quota"):
        return step()


def run_stamp() -> str:
    """``2026-11-22T10:00:05Z 3f2a1b``: UTC to the second, and the run id's start.

    Two runs started in the same second (two workers, a queue draining) still differ.
    """
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{stamp} {str(flow_run.id or '')[:6]}".rstrip()


def _run_name() -> str:
    params = flow_run.parameters
    mode = "dry run" if params.get("dry_run") else "full refresh" if params.get(
        "full_refresh") else "backfill" if params.get("since") or params.get(
        "until") else "incremental"
    return f"{params.get('source')}→{params.get('target')} {mode} {run_stamp()}"


@flow(name="sync-offerings", flow_run_name=_run_name, validate_parameters=True,
      retries=FLOW.flow_retries, retry_delay_seconds=FLOW.flow_retry_delay_seconds)
def sync_offerings(source: System, target: System, full_refresh: bool = False,
                   since: datetime | None = None, until: datetime | None = None,
                   dry_run: bool = False, on_conflict: Conflicts | None = None,
                   on_delete: Deletes | None = None,
                   allow_mass_delete: bool = False) -> dict[str, Any]:
    """Sync course offerings from one system to another; the run's counts are its result.

    Args:
        source: The system offerings are read from.
        target: The system offerings are written to.
        full_refresh: Read every source record, ignoring the watermark of the last run, and
            map each again (lookups re-read); records that did not change are still not written.
        since: Backfill: only records modified at or after this moment (ISO 8601; a time
            without a zone is taken as UTC).
        until: Backfill: only records modified before this moment (ISO 8601, UTC if no zone).
        dry_run: Extract, map and compare only; write nothing to the target or the state.
        on_conflict: When the target was edited since our last write: source-wins (write it),
            target-wins (leave it) or dead-letter (ask a human). Default: the setting
            OFFERING_SYNC_ON_CONFLICT (source-wins).
        on_delete: Offerings the source no longer lists: report, deactivate or delete.
            Default: the setting OFFERING_SYNC_ON_DELETE (report).
        allow_mass_delete: Deactivate/delete even when more than OFFERING_SYNC_MAX_DELETE_RATIO
            of the linked offerings are missing (this run only).
    """
    with redacting():  # every log record of the run is scrubbed of registered secrets
        return _run(source, target, full_refresh, since, until, dry_run, on_conflict, on_delete,
                    allow_mass_delete)


def _run(source: str, target: str, full_refresh: bool, since: datetime | None,
         until: datetime | None, dry_run: bool, on_conflict: str | None, on_delete: str | None,
         allow_mass_delete: bool) -> dict[str, Any]:
    logger = get_run_logger()
    start, end = _aware(since), _aware(until)
    if start and end and end < start:
        message = (f"until {end.isoformat()} is before since {start.isoformat()}: the window "
                   "is empty; swap them or leave one out")
        return _ending(_final_failure(message, RunFailed(message)))
    blocks = load_secret_blocks(source, target)
    if blocks:
        logger.info("credentials from Secret blocks: %s", ", ".join(blocks))
    options = CoreSettings().options(
        full_refresh=full_refresh, since=start, until=end, dry_run=dry_run,
        mode="full" if full_refresh else "backfill" if start or end else "incremental",
        on_conflict=on_conflict, on_delete=on_delete, allow_mass_delete=allow_mass_delete)
    try:
        return _ending(_sync(source, target, options))
    except SyncError as exc:
        if isinstance(exc, RETRYABLE):
            raise  # a flow-run retry; after the last one the run ends Failed with this message
        logger.error("%s", exc)
        return _ending(_final_failure(str(exc), exc))


def _final_failure(message: str, exc: Exception) -> State[Any]:
    """A Failed state that no flow-run retry follows: a retry cannot fix this failure.

    Prefect 3.8.8 has no retry condition for flows: its server turns every Failed of a run with
    retries left into AwaitingRetry (``RetryFailedFlows`` in server/orchestration/core_policy.py).
    So the run's retry policy is set to no retries first.
    """
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(str(flow_run.id)))
        client.update_flow_run(run.id, empirical_policy=run.empirical_policy.model_copy(
            update={"retries": 0}))
    return Failed(message=message, data=exc)


def _ending(state: State[Any]) -> dict[str, Any]:
    """The state the run ends in, as the flow's return value.

    Prefect makes a returned state the run's own (its name and message), and a caller of the
    flow gets the state's data: the summary, or its exception raised. Hence the cast.
    """
    return cast("dict[str, Any]", state)


def _sync(source: str, target: str, options: SyncOptions) -> State[Any]:
    logger = get_run_logger()
    settings = CoreSettings()
    with ExitStack() as closing:
        store = StateStore(settings.state_url)
        closing.callback(store.close)
        keep_tokens_in(store)  # tokens outlive the run (Rhythm: 1,000 a month per tenant)
        pipeline = build_pipeline(source, target, settings)
        closing.callback(pipeline.target.close)
        closing.callback(pipeline.source.close)
        target_limit = f"target-{target}" if slots.limit_exists(f"target-{target}") else None
        turn = f"pipeline-{source}-{target}"
        if slots.ensure_limit(turn):
            logger.info("created global concurrency limit %s (1 slot): runs of %s take turns",
                        turn, pipeline.name)
        progress = Progress(pipeline.name)

        def run_group(label: str, step: Callable[[], T]) -> T:
            return load_batches.with_options(task_run_name=label)(step)

        def run_batch(_label: str, step: Callable[[], T]) -> T:
            return hold_slot(target_limit, step)

        try:
            with slots.hold(turn, wait_seconds=FLOW.pipeline_wait_seconds,
                            lease_seconds=FLOW.slot_lease_seconds,
                            log_seconds=FLOW.slot_log_seconds, logger=logger,
                            why=f"another run of {pipeline.name} is busy"):
                # No tags on the task runs: a tagged task run makes Prefect take and release a
                # tag concurrency slot (two writes to the server's database) each time, and
                # against a SQLite server that write met "database is locked" under a run's
                # other writes, a 503 and ~2 s of client back-off per occurrence (issue 17).
                # The deployments tag the flow runs; run_batch holds the target-<system> limit.
                summary = sync_pipeline(pipeline, store, options, run_batch=run_batch,
                                        run_group=run_group, group_seconds=FLOW.task_seconds,
                                        group_max_batches=FLOW.task_max_batches,
                                        logger=logger, progress=progress.update)
                summary.details.update(token_details(store, source, target))
        except SyncError as exc:
            kind = RetryableRunFailure if isinstance(exc, RETRYABLE) else RunFailed
            raise kind(_with_counts(exc, store, pipeline.name)) from exc
    progress.finish(summary.counts.extracted)
    publish_summary(summary)
    state = final_state(summary.as_dict())
    log = logger.info if state.name == "Completed" else logger.warning
    log("%s: %s", state.name, state.message)
    return state


def _with_counts(exc: Exception, store: StateStore, pipeline: str) -> str:
    """The error plus what the interrupted attempt had done.

    The engine attaches its summary to what it raises (``run_summary``); failing that, the
    state store's newest run of the pipeline (this one: the pipeline's slot is ours) says it.
    """
    summary = getattr(exc, "run_summary", None)
    counts: dict[str, int] | None = summary.counts.as_dict() if summary is not None else None
    if counts is None:
        try:
            latest = store.runs(pipeline=pipeline, limit=1)
        except Exception:  # noqa: BLE001 - only decorates the message
            latest = []
        counts = dict(latest[0].counts) if latest else None
    return f"{exc} (this attempt: {counts_text(counts)})" if counts else str(exc)


def _aware(moment: datetime | None) -> datetime | None:
    """A moment without a zone is UTC; one with a zone is converted to UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
