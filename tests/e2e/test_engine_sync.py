"""The sync engine end to end against both emulators (no Prefect), on every state backend."""

from collections import Counter
from dataclasses import replace

import pytest

from offering_sync.engine import SyncOptions, sync_pipeline
from offering_sync.errors import LockHeld
from offering_sync.state import StateStore
from tests.e2e.conftest import World


def test_first_sync_creates_all_then_nothing_then_exactly_the_edits(world, state_url):
    store = StateStore(state_url)
    first = sync_pipeline(world.pipeline(), store)
    assert (first.counts.created, first.counts.failed, first.ok) == (120, 0, True)
    assert sorted(world.external_ids()) == sorted(f"digitalchalk:{r['id']}"
                                                  for r in world.catalog)
    posts = world.sf_app.state.posts
    second = sync_pipeline(world.pipeline(), store)
    assert (second.counts.unchanged, world.sf_app.state.posts - posts) == (120, 0)
    edited = [world.catalog.offering_id(i) for i in (3, 40, 99)]
    for offering_id in edited:
        world.catalog.edit(offering_id, {"title": "Changed title"})
    third = sync_pipeline(world.pipeline(), store)
    assert (third.counts.updated, third.counts.created, third.counts.unchanged) == (3, 0, 117)
    changed = [o for o in world.offerings if o["courseOfferingName"] == "Changed title"]
    assert sorted(o["courseOfferingExternalId"]["fieldValue"] for o in changed) == \
        sorted(f"digitalchalk:{i}" for i in edited)


def test_a_no_op_re_sync_maps_nothing_and_a_full_refresh_maps_everything_again(world,
                                                                                 sqlite_url):
    """DigitalChalk lists no modification date: the record as read is its change marker."""
    store = StateStore(sqlite_url)
    sync_pipeline(world.pipeline(), store)
    mapped: list[str] = []

    class Counting:
        """The source mapping, noting each record it maps."""

        def __init__(self, inner):
            self.inner = inner

        def __call__(self, raw):
            mapped.append(raw["id"])
            return self.inner(raw)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    def counting(pipeline):
        return replace(pipeline, to_canonical=Counting(pipeline.to_canonical))

    again = sync_pipeline(counting(world.pipeline()), store)
    assert (again.counts.unchanged, mapped) == (120, [])
    edited = world.catalog.offering_id(9)
    world.catalog.edit(edited, {"title": "Changed title"})
    third = sync_pipeline(counting(world.pipeline()), store)
    assert (third.counts.updated, mapped) == (1, [edited])
    mapped.clear()
    full = sync_pipeline(counting(world.pipeline()), store, SyncOptions(full_refresh=True))
    assert (full.counts.unchanged, len(mapped)) == (120, 120)


def test_batches_are_the_target_maximum(world, sqlite_url):
    summary = sync_pipeline(world.pipeline(batch_size=50), StateStore(sqlite_url))
    assert summary.batches == 3  # ceil(120 / 50)
    assert world.sf_app.state.posts == 3


def test_an_invalid_record_is_dead_lettered_with_id_field_and_reason(world, state_url):
    bad_id = world.catalog.offering_id(7)
    world.catalog.edit(bad_id, {"beginDate": "2013-02-30T00:00:00Z"})
    store = StateStore(state_url)
    summary = sync_pipeline(world.pipeline(), store)
    assert (summary.counts.created, summary.counts.failed, summary.ok) == (119, 1, False)
    (dead,) = store.dead_letters()
    assert (dead.source_id, dead.field, dead.stage) == (bad_id, "starts_at", "map")
    assert bad_id in dead.error and "ISO 8601" in dead.error
    assert f"digitalchalk:{bad_id}" not in world.external_ids()


def test_a_title_too_long_for_the_model_is_dead_lettered_at_validation(world, sqlite_url):
    store = StateStore(sqlite_url)
    world.catalog.edit(world.catalog.offering_id(5), {"title": "x" * 256})
    summary = sync_pipeline(world.pipeline(), store)
    assert (summary.counts.created, summary.counts.failed) == (119, 1)
    (dead,) = store.dead_letters()
    assert (dead.stage, dead.field) == ("validate", "title") and "255" in dead.error


def test_records_the_target_rejects_are_dead_lettered_and_their_batch_still_lands(sqlite_url):
    from offering_sync.emulators.faults import Faults

    world = World(120)
    world.sf_app.state.faults.configure(Faults(reject_rate=0.1, seed=4))
    store = StateStore(sqlite_url)
    summary = sync_pipeline(world.pipeline(), store)
    rejected = world.sf_app.state.faults.injected["reject"]
    assert rejected > 0
    assert (summary.counts.created, summary.counts.failed) == (120 - rejected, rejected)
    dead = store.dead_letters()
    assert len(dead) == rejected and all(d.stage == "load" for d in dead)
    assert "exclusive access" in dead[0].error
    world.sf_app.state.faults.configure(Faults())
    again = sync_pipeline(world.pipeline(), store)  # the next run loads what failed
    assert (again.counts.created, again.counts.unchanged) == (rejected, 120 - rejected)
    assert store.dead_letters() == [] and len(world.offerings) == 120


def test_no_academic_session_in_the_org_names_the_lookup_and_the_value(world, sqlite_url):
    world.catalog.edit(world.catalog.offering_id(2), {"beginDate": "2031-01-01T00:00:00Z",
                                                      "endDate": None})
    store = StateStore(sqlite_url)
    sync_pipeline(world.pipeline(), store)
    (dead,) = store.dead_letters()
    assert dead.stage == "map_target" and "lookup AcademicSession" in dead.error
    assert "no AcademicSession matches" in dead.error and "2031-01-01" in dead.error


def test_counts_add_up(world, sqlite_url):
    world.catalog.edit(world.catalog.offering_id(1), {"price": "free"})
    s = sync_pipeline(world.pipeline(), StateStore(sqlite_url)).counts
    assert s.extracted == s.created + s.updated + s.unchanged + s.failed == 120


def test_dry_run_writes_nothing(world, sqlite_url):
    store = StateStore(sqlite_url)
    summary = sync_pipeline(world.pipeline(), store, SyncOptions(dry_run=True))
    assert summary.counts.created == 120
    assert world.sf_app.state.posts == 0 and store.links_for("digitalchalk", "salesforce",
                                                             [r["id"] for r in world.catalog]) == {}


class Crash(Exception):
    pass


def test_a_run_killed_mid_way_then_rerun_leaves_each_offering_once(state_url):
    world = World(300)
    store = StateStore(state_url)
    done = []

    def crash_after_two(label, step):
        if len(done) == 2:
            raise Crash(label)
        done.append(label)
        return step()

    with pytest.raises(Crash):
        sync_pipeline(world.pipeline(batch_size=50), store, run_batch=crash_after_two)
    assert len(world.offerings) == 100
    summary = sync_pipeline(world.pipeline(batch_size=50), store)
    assert (summary.counts.created, summary.counts.unchanged) == (200, 100)
    ids = Counter(world.external_ids())
    assert len(ids) == 300 and set(ids.values()) == {1}


def test_a_write_that_landed_but_was_not_recorded_is_not_duplicated(sqlite_url):
    """The target created a batch, then the process died before recording it."""
    world = World(60)
    store = StateStore(sqlite_url)
    pipeline = world.pipeline(batch_size=60)
    original = pipeline.target.upsert

    def lose_the_answer(batch, *, overwrite, policy):
        original(batch, overwrite=overwrite, policy=policy)
        raise Crash("died after the POST")

    pipeline.target.upsert = lose_the_answer  # type: ignore[method-assign]
    with pytest.raises(Crash):
        sync_pipeline(pipeline, store)
    summary = sync_pipeline(world.pipeline(batch_size=60), store)
    assert summary.ok and summary.counts.updated == 60  # "exists" conflicts flipped to overwrite
    assert len(world.offerings) == 60


def test_a_second_run_of_the_same_pipeline_is_refused_while_one_runs(world, sqlite_url):
    store = StateStore(sqlite_url)
    store.acquire_lock("digitalchalk->salesforce", "other-run", ttl_seconds=300)
    with pytest.raises(LockHeld):
        sync_pipeline(world.pipeline(), store)
    assert world.sf_app.state.posts == 0
    assert store.runs()[0].status == "refused"


def test_retrying_dead_letters_loads_the_fixed_ones_and_resolves_them(sqlite_url):
    from offering_sync.emulators.faults import Faults
    from offering_sync.retry_dead_letters import retry_dead_letters

    world = World(80)
    world.sf_app.state.faults.configure(Faults(reject_rate=0.2, seed=8))
    store = StateStore(sqlite_url)
    first = sync_pipeline(world.pipeline(), store)
    failed = first.counts.failed
    assert failed and len(store.dead_letters()) == failed
    world.sf_app.state.faults.configure(Faults())
    (retry,) = retry_dead_letters(store, lambda s, t: world.pipeline())
    assert (retry.counts.extracted, retry.counts.created) == (failed, failed)
    assert store.dead_letters() == []
    assert len(world.offerings) == 80


def test_a_record_failing_again_keeps_one_open_dead_letter(world, sqlite_url):
    from offering_sync.retry_dead_letters import retry_dead_letters

    world.catalog.edit(world.catalog.offering_id(9), {"price": "free"})
    store = StateStore(sqlite_url)
    sync_pipeline(world.pipeline(), store)
    sync_pipeline(world.pipeline(), store)
    (retry,) = retry_dead_letters(store, lambda s, t: world.pipeline())
    assert retry.counts.failed == 1
    (dead,) = store.dead_letters()
    assert dead.field == "price"


def test_an_unexpected_error_marks_the_run_failed_and_frees_the_lock(world, sqlite_url):
    store = StateStore(sqlite_url)

    def explode(label, step):
        raise Crash("disk on fire")

    with pytest.raises(Crash):
        sync_pipeline(world.pipeline(), store, run_batch=explode)
    (run,) = store.runs()
    assert run.status == "failed" and "disk on fire" in run.message
    assert sync_pipeline(world.pipeline(), store).ok


def test_a_run_over_the_failure_ratio_ends_failed(sqlite_url):
    from offering_sync.emulators.faults import Faults

    world = World(60)
    world.sf_app.state.faults.configure(Faults(reject_rate=0.5, seed=1))
    summary = sync_pipeline(world.pipeline(), StateStore(sqlite_url),
                            SyncOptions(max_failure_ratio=0.2))
    assert summary.counts.failed / summary.counts.extracted > 0.2
    assert summary.status == "failed" and not summary.ok
