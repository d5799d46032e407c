"""The demo: local emulators, then three runs of the real flow, each checked against its promise.

1. a first sync creates every generated offering in the Salesforce emulator;
2. a second sync writes nothing;
3. after ``changes`` source offerings were edited, a third sync updates exactly those.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from offering_sync.emulators import digitalchalk, salesforce, server

__all__ = ["run_demo"]


def run_demo(records: int, changes: int, console: Console) -> None:
    """Run the three syncs and exit non-zero if any promise was broken.

    The state store (and its ``.migrate-lock``) goes to a fresh temporary folder, never the
    current one; it is kept, and its path printed, so the runs can be looked at afterwards.
    """
    demo_db = Path(tempfile.mkdtemp(prefix="offering-sync-demo-")) / "demo.db"
    catalog = digitalchalk.Catalog(records, seed=2026)
    dc = server.start(digitalchalk.create_app(catalog))
    sf = server.start(salesforce.create_app())
    os.environ.update({"OFFERING_SYNC_STATE_URL": f"sqlite:///{demo_db}",
                       **server.connection_env("digitalchalk", dc.url),
                       **server.connection_env("salesforce", sf.url)})
    console.print(f"DigitalChalk emulator at {dc.url} serving {records} offerings; "
                  f"Salesforce emulator at {sf.url}; state in {demo_db}", highlight=False)
    from offering_sync.flows.sync import sync_offerings  # after the environment is set

    org = sf.app.state.org
    try:
        first = sync_offerings(source="digitalchalk", target="salesforce")
        posts_before = sf.app.state.posts
        second = sync_offerings(source="digitalchalk", target="salesforce")
        posts_second = sf.app.state.posts - posts_before
        edited = [catalog.offering_id(i) for i in range(0, records, max(1, records // changes))
                  ][:changes]
        for offering_id in edited:
            catalog.edit(offering_id, {"title": f"Renamed in the demo {offering_id[:6]}"})
        third = sync_offerings(source="digitalchalk", target="salesforce")
    finally:
        dc.stop()
        sf.stop()
    _show(console, [("1: first sync", first), ("2: nothing changed", second),
                    (f"3: {len(edited)} edited", third)])
    external = Counter(o["courseOfferingExternalId"]["fieldValue"]
                       for o in org.offerings.values())
    checks = [
        (f"run 1 created all {records}", first["created"] == records and first["failed"] == 0),
        ("run 2 wrote nothing", second["unchanged"] == records and posts_second == 0),
        (f"run 3 updated exactly the {len(edited)} edited",
         third["updated"] == len(edited) and third["created"] == 0
         and third["unchanged"] == records - len(edited)),
        (f"Salesforce holds {records} offerings, each external ID once",
         len(external) == records and max(external.values(), default=1) == 1),
    ]
    for label, passed in checks:
        console.print(("[green]✓[/] " if passed else "[red]✗[/] ") + label)
    console.print(f"The runs are kept in {demo_db}: OFFERING_SYNC_STATE_URL=sqlite:///{demo_db} "
                  "offering-sync runs", highlight=False, markup=False)
    if not all(passed for _, passed in checks):
        raise typer.Exit(1)


def _show(console: Console, rows: list[tuple[str, dict[str, Any]]]) -> None:
    table = Table(title="offering-sync demo: digitalchalk → salesforce (Prefect flow runs)")
    for column in ("run", "extracted", "created", "updated", "unchanged", "failed", "seconds"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for label, s in rows:
        table.add_row(label, *(str(s[k]) for k in ("extracted", "created", "updated",
                                                    "unchanged", "failed", "seconds")))
    console.print(table)
