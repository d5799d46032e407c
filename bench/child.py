"""One DigitalChalk → Salesforce sync in this process, configured by the environment."""

from __future__ import annotations

import time
from typing import Any


def run(flow: bool = False) -> dict[str, Any]:
    """Sync once (engine, or the Prefect flow after a warm-up run); counts and seconds."""
    if flow:
        from prefect import flow as prefect_flow

        import offering_sync.flows  # noqa: F401 - Prefect defaults before Prefect loads
        from offering_sync.flows.sync import sync_offerings

        @prefect_flow
        def warm_up() -> None:
            """Start the ephemeral server outside the timed region."""

        warm_up()
        started = time.perf_counter()
        summary = sync_offerings(source="digitalchalk", target="salesforce")
        return {**summary, "seconds": round(time.perf_counter() - started, 2)}
    from offering_sync.app.compose import build_pipeline
    from offering_sync.engine import sync_pipeline
    from offering_sync.state import StateStore

    pipeline = build_pipeline("digitalchalk", "salesforce")
    store = StateStore(__import__("offering_sync.settings").settings.CoreSettings().state_url)
    started = time.perf_counter()
    summary = sync_pipeline(pipeline, store)
    return {**summary.as_dict(), "seconds": round(time.perf_counter() - started, 2)}
