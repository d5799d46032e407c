"""Issue 9, a pipeline stuck for good: one poison record, a lost store, a flip answered short,
and a retry that would move the watermark past records never read."""

from collections import Counter

import pytest

from offering_sync.emulators import digitalchalk
from offering_sync.engine import SyncOptions, sync_pipeline
from offering_sync.errors import StateError
from offering_sync.records import LoadResult
from offering_sync.retry_dead_letters import retry_dead_letters
from offering_sync.state import StateStore
from tests.conftest import PG_URL
from tests.e2e.conftest import World


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00"])
def test_a_date_outside_the_calendar_in_utc_is_one_dead_letter(moment, state_url):
    world = World(300)
    bad = world.catalog.offering_id(17)
    world.catalog.edit(bad, {"beginDate": moment})
    store = StateStore(state_url)
    summary = sync_pipeline(world.pipeline(), store)
    assert (summary.counts.created, summary.counts.failed) == (299, 1)
    (dead,) = store.dead_letters()
    assert (dead.source_id, dead.field) == (bad, "starts_at")
    assert "outside the calendar" in dead.error


def test_two_source_records_with_one_external_id_never_overwrite_each_other(tmp_path,
                                                                            state_url):
    """A mapping keyed on the title: the second record with a title is refused, not merged."""
    from offering_sync.app.compose import build_pipeline
    from offering_sync.connectors import MAPPINGS_DIR
    from offering_sync.settings import CoreSettings
    from tests.conftest import dc_source, sf_target

    overlay = tmp_path / "mine"
    overlay.mkdir()
    text = (MAPPINGS_DIR / "digitalchalk_to_canonical.yaml").read_text()
    (overlay / "digitalchalk_to_canonical.yaml").write_text(
        text.replace('external_id: {template: "digitalchalk:{id}"}',
                     'external_id: {template: "dc-title:{title}"}'))
    world = World(1000)
    twin = world.catalog.get(3)["title"]
    world.catalog.edit(world.catalog.offering_id(600), {"title": twin})
    pipeline = build_pipeline("digitalchalk", "salesforce", CoreSettings(mappings_dir=overlay),
                              source_connector=dc_source(world.dc_app),
                              target_connector=sf_target(world.sf_app))
    store = StateStore(state_url)
    summary = sync_pipeline(pipeline, store)
    assert (summary.counts.created, summary.counts.failed) == (999, 1)
    held = Counter(world.external_ids())
    assert len(held) == 999 and set(held.values()) == {1}
    (dead,) = store.dead_letters()
    assert dead.source_id == world.catalog.offering_id(600) and dead.field == "external_id"
    titles = [o["courseOfferingName"] for o in world.offerings if o["courseOfferingName"] == twin]
    assert titles == [twin]


@pytest.mark.parametrize("bad_id", ["x" * 300, "nul\x00byte"])
def test_an_id_no_database_can_store_is_a_dead_letter(bad_id, state_url):
    world = World(50)
    world.catalog.add([{"id": bad_id, "title": "Odd", "beginDate": "2026-03-01T00:00:00Z",
                        "orderIndex": 99}])
    store = StateStore(state_url)
    summary = sync_pipeline(world.pipeline(), store)
    assert (summary.counts.created, summary.counts.failed) == (50, 1)
    (dead,) = store.dead_letters()
    assert dead.field == "source_id" and dead.stage == "validate"


def test_losing_the_sqlite_file_mid_run_fails_the_run(tmp_path):
    world = World(400)
    path = tmp_path / "state.db"
    store = StateStore(f"sqlite:///{path}")

    def delete_the_store(counts):
        if counts.extracted >= 100 and path.exists():
            path.unlink()

    with pytest.raises(StateError, match="was deleted or replaced"):
        sync_pipeline(world.pipeline(page_size=100), store, progress=delete_the_store)


class _ShortFlip:
    """A target that says every record exists, then answers the re-send with fewer results."""

    system, max_batch, upsert_key = "fake", 10, True

    def __init__(self):
        self.calls = []

    def upsert(self, batch, *, overwrite, policy):
        self.calls.append((len(batch), overwrite))
        if not overwrite:
            return [LoadResult(r.key, ok=False, conflict="exists", errors=((None, "dup"),))
                    for r in batch]
        if len(batch) > 1:
            return [LoadResult(r.key, ok=True, target_id="T") for r in batch[:-1]]
        return [LoadResult(batch[0].key, ok=True, target_id="T" + batch[0].key[-4:])]

    def close(self):
        pass


def test_a_short_answer_to_the_overwrite_flip_is_handled_like_the_first_send(sqlite_url):
    from offering_sync.engine import Pipeline

    world = World(20)
    built = world.pipeline(batch_size=10)
    fake = _ShortFlip()
    pipeline = Pipeline(built.source, fake, built.to_canonical, built.to_target)
    summary = sync_pipeline(pipeline, StateStore(sqlite_url))
    assert summary.status == "succeeded"
    assert summary.counts.updated + summary.counts.failed == 20 and summary.counts.updated > 0
    assert any(size == 1 for size, overwrite in fake.calls if overwrite)  # it bisected


def test_a_retry_of_dead_letters_never_moves_the_watermark(sqlite_url):
    """Only a run that read the whole window may advance it."""
    from tests.systems import System

    source, target = System("rhythm", 30), System("salesforce")
    store = StateStore(sqlite_url)
    from offering_sync.app.compose import build_pipeline
    from offering_sync.settings import CoreSettings

    def pipeline():
        return build_pipeline("rhythm", "salesforce", CoreSettings(),
                              source_connector=source.source(), target_connector=target.target())

    record = next(iter(source.stored().values()))
    good = record["start_date"]
    record["start_date"] = "not a date"
    sync_pipeline(pipeline(), store)
    mark = store.get_cursor("rhythm->salesforce", "modified_since")
    assert mark is not None
    record["start_date"] = good  # fixed, keeping its old modification stamp
    (retry,) = retry_dead_letters(store, lambda s, t: pipeline())
    assert retry.counts.created == 1 and store.dead_letters() == []
    assert store.get_cursor("rhythm->salesforce", "modified_since") == mark


def test_an_explicit_retry_tries_parked_and_unchanged_records_too(sqlite_url):
    world = World(10)
    world.catalog.edit(world.catalog.offering_id(2), {"price": "free"})
    store = StateStore(sqlite_url)
    options = SyncOptions(max_attempts=1)
    sync_pipeline(world.pipeline(), store, options)
    (dead,) = store.dead_letters()
    assert dead.parked  # one attempt allowed: parked at once
    again = sync_pipeline(world.pipeline(), store, options)
    assert (again.counts.skipped, again.counts.failed) == (1, 0)
    assert again.counts.still_failing == 1 and not again.ok  # skipped is not loaded
    (retry,) = retry_dead_letters(store, lambda s, t: world.pipeline())
    assert retry.counts.failed == 1  # tried again, still bad: one open dead letter
    assert len(store.dead_letters()) == 1


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL variant needs OFFERING_SYNC_TEST_POSTGRES_URL")
def test_postgres_never_sees_a_nul_in_a_dead_letter():
    world = World(5)
    world.catalog.add([{"id": "a\x00b", "title": "T\x00", "beginDate": "bad", "orderIndex": 1}])
    from tests.conftest import _reset_postgres

    _reset_postgres(PG_URL)
    store = StateStore(PG_URL)
    summary = sync_pipeline(world.pipeline(), store)
    assert summary.counts.failed == 1 and len(store.dead_letters()) == 1
    _reset_postgres(PG_URL)


def test_the_catalog_keeps_its_shape():  # guards the helpers above against emulator drift
    assert digitalchalk.Catalog(3).total() == 3
