"""offering-sync from Python: build a pipeline and run it, then the Prefect flow as a subflow.

Runnable as it is (``python examples/python_api.py``): it starts the DigitalChalk and Salesforce
emulators on loopback and keeps its state in a temporary folder. Against real systems, leave
out ``emulators()`` and set the ``OFFERING_SYNC_*`` variables instead (see ``.env.example``).
``tests/e2e/test_readme_sections.py`` runs this file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow

from offering_sync import StateStore, sync_pipeline
from offering_sync.app.compose import build_pipeline
from offering_sync.settings import CoreSettings


def sync_once(source: str, target: str) -> None:
    """One run in this process: connectors and mappings come from the settings."""
    settings = CoreSettings()  # OFFERING_SYNC_* from the environment or .env
    pipeline = build_pipeline(source, target, settings)
    store = StateStore(settings.state_url)
    try:
        summary = sync_pipeline(pipeline, store, settings.options(dry_run=False))
    finally:
        pipeline.source.close()
        pipeline.target.close()
        store.close()
    counts = summary.counts
    print(f"{summary.pipeline}: {summary.status}, {counts.created} created, "
          f"{counts.updated} updated, {counts.unchanged} unchanged, {counts.failed} failed")


@flow(name="nightly-offerings")
def nightly(source: str = "digitalchalk", target: str = "salesforce") -> dict[str, Any]:
    """A flow of your own; ``sync_offerings`` runs inside it as a subflow (with its artifacts)."""
    from offering_sync.flows.sync import sync_offerings

    result: dict[str, Any] = sync_offerings(source=source, target=target)  # type: ignore[arg-type]
    return result


@contextmanager
def emulators(records: int) -> Iterator[None]:
    """The two vendors' emulators, and the settings that point offering-sync at them."""
    from offering_sync.emulators import digitalchalk, salesforce, server

    dc = server.start(digitalchalk.create_app(digitalchalk.Catalog(records)))
    sf = server.start(salesforce.create_app())
    os.environ.update({**server.connection_env("digitalchalk", dc.url),
                       **server.connection_env("salesforce", sf.url)})
    try:
        yield
    finally:
        dc.stop()
        sf.stop()


if __name__ == "__main__":
    state = Path(tempfile.mkdtemp(prefix="offering-sync-example-")) / "state.db"
    os.environ["OFFERING_SYNC_STATE_URL"] = f"sqlite:///{state}"
    with emulators(records=30):
        sync_once("digitalchalk", "salesforce")  # creates 30
        result = nightly()  # nothing changed: 30 unchanged
        print(f"subflow: {result['status']}, {result['unchanged']} unchanged")
