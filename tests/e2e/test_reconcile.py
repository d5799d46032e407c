"""Reconcile finds what is missing, extra and drifted, and --fix makes the next sync repair it."""

from offering_sync.app.compose import build_reconcile
from offering_sync.engine import sync_pipeline
from offering_sync.reconcile import reconcile, requeue
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.systems import System


def test_reconcile_reports_missing_extra_and_drifted_and_fix_repairs_them(sqlite_url):
    source, target = System("digitalchalk", 40), System("salesforce")
    store = StateStore(sqlite_url)

    def parts():
        return build_reconcile("digitalchalk", "salesforce", CoreSettings(),
                               source_connector=source.source(),
                               target_connector=target.target(), target_reader=target.source())

    pipeline, _, _ = parts()
    assert sync_pipeline(pipeline, store).ok
    links = store.links_for("digitalchalk", "salesforce", list(source.stored()))
    ids = sorted(links)
    gone, drifted = links[ids[0]].target_id, links[ids[1]].target_id
    del target.app.state.org.offerings[gone]  # deleted by hand in Salesforce
    target.app.state.org.offerings[drifted]["courseOfferingName"] = "Edited in Salesforce"
    target.app.state.org.offerings[drifted]["SystemModstamp"] = "2030-01-01T00:00:00.000+0000"
    __import__("offering_sync.emulators.salesforce", fromlist=["seed"]).seed(target.app, 1)  # an extra one

    pipeline, back, reader = parts()
    report = reconcile(pipeline, back, reader, store)
    assert report.counts == {"ok": 38, "missing": 1, "extra": 1, "drifted": 1}
    rows = report.frame.set_index("source_id")
    assert rows.loc[ids[1], "fields"] == "title"
    assert rows.loc[ids[0], "status"] == "missing"
    assert "| 38 | 1 | 1 | 1 |" in report.markdown("t")

    assert requeue(store, pipeline, report) == 2
    repaired = sync_pipeline(parts()[0], store)
    assert (repaired.counts.created + repaired.counts.updated) == 2
    pipeline, back, reader = parts()
    assert reconcile(pipeline, back, reader, store).counts == \
        {"ok": 40, "missing": 0, "extra": 1, "drifted": 0}
