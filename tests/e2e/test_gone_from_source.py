"""Issue 15: offerings gone from the source are detected on every complete read, reported
always, retired only by policy, never past the mass-delete guard, and revived when they return."""

import pytest

from offering_sync.engine import MassDeleteRefused
from tests.e2e.test_target_owns import Pair

GONE = 5


def remove_from_source(pair: Pair, count: int) -> dict:
    """Delete offerings in the source system; returns them so a test can put them back."""
    stored = pair.source.app.state.install.offerings
    removed = {sid: stored.pop(sid) for sid in sorted(stored)[:count]}
    return removed


def restore(pair: Pair, removed: dict) -> None:
    pair.source.app.state.install.offerings.update(removed)


def active_in(pair: Pair, sid: str) -> bool:
    record = pair.target_of(sid)
    if pair.names[1] == "salesforce":
        return record.get("isActive") in (True, "true")
    return record.get("publish_to_portal") is not False


@pytest.mark.parametrize("target", ["salesforce", "rhythm"])
def test_deactivate_exactly_the_missing_then_revive_them_when_they_return(target, sqlite_url):
    pair = Pair("smarterproctoring", target, sqlite_url, records=100)
    assert pair.sync().counts.created == 100
    removed = remove_from_source(pair, GONE)
    reported = pair.sync()
    assert (reported.counts.missing_in_source, reported.counts.deactivated) == (GONE, 0)
    assert all(active_in(pair, sid) for sid in removed)

    retired = pair.sync(on_delete="deactivate")
    assert (retired.counts.missing_in_source, retired.counts.deactivated) == (GONE, GONE)
    linked = pair.store.links_for(*pair.names, [*removed, *pair.source.stored()])
    assert sorted(s for s in linked if not active_in(pair, s)) == sorted(removed)
    assert len(pair.target.stored()) == 100  # deactivated, not deleted

    again = pair.sync(on_delete="deactivate")  # already done: nothing more
    assert (again.counts.missing_in_source, again.counts.deactivated) == (0, 0)

    restore(pair, removed)
    revived = pair.sync(on_delete="deactivate")
    assert revived.counts.updated == GONE
    assert all(active_in(pair, sid) for sid in removed)
    (row, *_) = pair.store.history(next(iter(removed)))
    assert row.operation == "update"
    assert any(r.operation == "deactivate" for r in pair.store.history(next(iter(removed))))


def test_delete_removes_exactly_the_missing_and_recreates_them_when_they_return(sqlite_url):
    pair = Pair("smarterproctoring", "rhythm", sqlite_url, records=100)
    pair.sync()
    removed = remove_from_source(pair, GONE)
    summary = pair.sync(on_delete="delete")
    assert (summary.counts.missing_in_source, summary.counts.deleted) == (GONE, GONE)
    assert len(pair.target.stored()) == 100 - GONE
    restore(pair, removed)
    back = pair.sync(on_delete="delete")
    assert back.counts.created == GONE and len(pair.target.stored()) == 100


def test_an_empty_listing_looks_like_an_outage_and_deletes_nothing(sqlite_url):
    pair = Pair("smarterproctoring", "rhythm", sqlite_url, records=40)
    pair.sync()
    remove_from_source(pair, 40)
    with pytest.raises(MassDeleteRefused, match="more than OFFERING_SYNC_MAX_DELETE_RATIO"):
        pair.sync(on_delete="delete")
    assert len(pair.target.stored()) == 40
    assert pair.store.runs()[0].status == "failed"


def test_the_mass_delete_guard_can_be_lifted_for_one_run(sqlite_url):
    pair = Pair("smarterproctoring", "rhythm", sqlite_url, records=20)
    pair.sync()
    remove_from_source(pair, 10)
    summary = pair.sync(on_delete="delete", allow_mass_delete=True)
    assert summary.counts.deleted == 10 and len(pair.target.stored()) == 10


def test_a_target_without_deactivation_says_so(sqlite_url):
    from offering_sync.errors import ConfigError

    pair = Pair("rhythm", "smarterproctoring", sqlite_url, records=20)
    pair.sync(full_refresh=True)
    stored = pair.source.app.state.tenant.records
    stored.pop(sorted(stored)[0])
    with pytest.raises(ConfigError, match="smarterproctoring cannot deactivate"):
        pair.sync(full_refresh=True, on_delete="deactivate")


def test_an_incremental_read_never_counts_anything_missing(sqlite_url):
    pair = Pair("rhythm", "smarterproctoring", sqlite_url, records=20)
    pair.sync()
    stored = pair.source.app.state.tenant.records
    stored.pop(sorted(stored)[0])
    assert pair.sync(on_delete="delete").counts.missing_in_source == 0  # a window, not all
    assert pair.sync(full_refresh=True).counts.missing_in_source == 1


def test_an_offering_unpublished_in_rhythm_is_inactive_in_salesforce_and_back_when_republished(
        sqlite_url):
    """The source's own signal counts too: Rhythm's publish_to_portal=false (what our own
    deactivate sets there) makes the Salesforce offering inactive, whatever the delete policy."""
    from datetime import UTC, datetime

    pair = Pair("rhythm", "salesforce", sqlite_url, records=10)
    assert pair.sync().counts.created == 10
    records = pair.source.app.state.tenant.records
    active = {s for s in records if active_in(pair, s)}
    assert active == {s for s, r in records.items() if r.get("publish_to_portal") is not False}
    sid = sorted(active)[0]
    record = records[sid]

    def publish(value: bool) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        record.update(publish_to_portal=value, sys_version=record["sys_version"] + 1,
                      sys_last_modified_at=stamp)

    publish(False)
    summary = pair.sync()
    assert (summary.counts.updated, summary.counts.deactivated) == (1, 0)
    assert {s for s in records if active_in(pair, s)} == active - {sid}  # only that one
    publish(True)
    assert pair.sync().counts.updated == 1 and active_in(pair, sid)
