"""Reconcile finds what is missing, drifted, extra and gone from the source; --fix repairs it
with the pipeline's own policies and never touches the target's own records."""

import copy

import pytest

from offering_sync.app.compose import build_reconcile
from offering_sync.engine import MassDeleteRefused, sync_pipeline
from offering_sync.reconcile import reconcile, repair, requeue
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
    assert report.counts == {"ok": 38, "missing": 1, "extra": 1, "drifted": 1,
                             "missing_in_source": 0, "retired": 0}
    rows = report.frame.set_index("source_id")
    assert rows.loc[ids[1], "fields"] == "title"
    assert rows.loc[ids[0], "status"] == "missing"
    assert "| 38 | 1 | 1 | 1 |" in report.markdown("t")

    assert requeue(store, pipeline, report) == 2
    repaired = sync_pipeline(parts()[0], store)
    assert (repaired.counts.created + repaired.counts.updated) == 2
    pipeline, back, reader = parts()
    assert reconcile(pipeline, back, reader, store).counts == \
        {"ok": 40, "missing": 0, "extra": 1, "drifted": 0, "missing_in_source": 0, "retired": 0}


class SpToSalesforce:
    """SmarterProctoring (a source that can lose offerings) into the Salesforce emulator."""

    def __init__(self, url: str, records: int) -> None:
        self.source, self.target = System("smarterproctoring", records), System("salesforce")
        self.store = StateStore(url)

    def parts(self):
        return build_reconcile("smarterproctoring", "salesforce", CoreSettings(),
                               source_connector=self.source.source(),
                               target_connector=self.target.target(),
                               target_reader=self.target.source())

    def remove(self, count: int) -> list[str]:
        stored = self.source.app.state.install.offerings
        gone = sorted(stored)[:count]
        for sid in gone:
            del stored[sid]
        return gone

    def report(self):
        return reconcile(*self.parts(), self.store)

    def inactive(self) -> set[str]:
        return {tid for tid, record in self.target.stored().items()
                if record.get("isActive") in (False, "false")}


def test_fix_deactivates_exactly_what_the_source_lost_and_never_the_targets_own(sqlite_url):
    pair = SpToSalesforce(sqlite_url, 40)
    assert sync_pipeline(pair.parts()[0], pair.store).ok
    gone = pair.remove(3)
    __import__("offering_sync.emulators.salesforce", fromlist=["seed"]).seed(pair.target.app, 1)
    linked = pair.store.links_for("smarterproctoring", "salesforce", gone)
    own = {tid: copy.deepcopy(r) for tid, r in pair.target.stored().items()
           if tid not in {link.target_id for link in
                          pair.store.links_for("smarterproctoring", "salesforce",
                                               [*pair.source.stored(), *gone]).values()}}
    assert len(own) == 1

    report = pair.report()
    assert report.counts == {"ok": 37, "missing": 0, "extra": 1, "drifted": 0,
                             "missing_in_source": 3, "retired": 0}
    rows = report.frame[report.frame["status"] == "missing_in_source"]
    assert sorted(rows["source_id"]) == gone  # named by the source id we linked
    assert sorted(rows["target_id"]) == sorted(link.target_id for link in linked.values())
    assert "| 37 | 0 | 1 | 0 | 3 | 0 |" in report.markdown("t")

    summary = repair(pair.store, pair.parts()[0], report,
                     CoreSettings().options(on_delete="deactivate"))
    assert (summary.counts.deactivated, summary.counts.created, summary.counts.failed) == (3, 0, 0)
    assert pair.inactive() == {link.target_id for link in linked.values()}
    assert {tid: pair.target.stored()[tid] for tid in own} == own  # the target's own: untouched

    after = pair.report()
    assert after.counts["missing_in_source"] == 0 and after.counts["extra"] == 1
    assert after.counts["retired"] + after.counts["ok"] == 40
    assert after.differences == 1  # only the target's own record is left to look at


def test_fix_with_report_only_repairs_and_reports(sqlite_url):
    pair = SpToSalesforce(sqlite_url, 20)
    sync_pipeline(pair.parts()[0], pair.store)
    pair.remove(1)
    summary = repair(pair.store, pair.parts()[0], pair.report(),
                     CoreSettings().options(on_delete="report"))
    assert (summary.counts.missing_in_source, summary.counts.deactivated) == (1, 0)
    assert pair.inactive() == set()


def test_fix_refuses_what_looks_like_an_outage(sqlite_url):
    pair = SpToSalesforce(sqlite_url, 20)
    sync_pipeline(pair.parts()[0], pair.store)
    pair.remove(15)
    report = pair.report()
    assert report.counts["missing_in_source"] == 15
    with pytest.raises(MassDeleteRefused, match="OFFERING_SYNC_MAX_DELETE_RATIO"):
        repair(pair.store, pair.parts()[0], report, CoreSettings().options(on_delete="delete"))
    assert len(pair.target.stored()) == 20 and pair.inactive() == set()


def test_a_target_record_edited_past_mapping_back_is_drifted_not_missing(sqlite_url):
    """Found by an outside tester: an offering edited in the target into something the mapping
    back refuses was reported ``missing`` although it is there."""
    pair = SpToSalesforce(sqlite_url, 5)
    sync_pipeline(pair.parts()[0], pair.store)
    sid = sorted(pair.source.stored())[0]
    target_id = pair.store.links_for("smarterproctoring", "salesforce", [sid])[sid].target_id
    pair.target.app.state.org.offerings[target_id]["startDate"] = "not a date"
    report = pair.report()
    assert (report.counts["missing"], report.counts["drifted"]) == (0, 1)
    row = report.frame.set_index("source_id").loc[sid]
    assert row["target_id"] == target_id and "no longer maps back" in row["fields"]
