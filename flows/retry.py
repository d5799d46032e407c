"""The ``retry-dead-letters`` flow: the operator's "try them all now", as a deployment.

Runs retry failed records on their own with backoff; this flow re-reads every open dead letter
of a pipeline (or of all) from its source and loads it again, resolving what loads, what is
already loaded and what the source no longer has. Credentials come from Secret blocks first.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from offering_sync.app.compose import build_pipeline, keep_tokens_in
from offering_sync.engine import Pipeline
from offering_sync.flows.artifacts import publish_summary
from offering_sync.flows.blocks import load_secret_blocks
from offering_sync.flows.sync import run_stamp
from offering_sync.redact import redacting
from offering_sync.retry_dead_letters import retry_dead_letters
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

__all__ = ["retry_dead_letters_flow"]


def _run_name() -> str:
    pipeline = flow_run.parameters.get("pipeline") or "every pipeline"
    return f"retry dead letters of {pipeline} {run_stamp()}"


@flow(name="retry-dead-letters", flow_run_name=_run_name, validate_parameters=True)
def retry_dead_letters_flow(pipeline: str | None = None) -> list[dict[str, Any]]:
    """Re-read dead-lettered records from their source and load them again.

    Args:
        pipeline: Only this pipeline, e.g. ``digitalchalk->salesforce`` (or
            ``digitalchalk:salesforce``); all pipelines when empty.
    """
    with redacting():
        logger = get_run_logger()
        settings = CoreSettings()
        store = StateStore(settings.state_url)
        keep_tokens_in(store)
        name = pipeline.replace(":", "->") if pipeline and "->" not in pipeline else pipeline

        def build(source: str, target: str) -> Pipeline:
            load_secret_blocks(source, target)
            return build_pipeline(source, target, settings)

        try:
            summaries = retry_dead_letters(store, build, pipeline=name,
                                           options=settings.options(mode="retry"))
        finally:
            store.close()
        for summary in summaries:
            publish_summary(summary)
            logger.info("%s: %s", summary.pipeline, summary.as_dict())
        if not summaries:
            logger.info("no dead letters to retry")
        return [s.as_dict() for s in summaries]
