"""Issue 9, duplicates: a live lock is never taken, retries never create twice, lost answers
are checked, not resent blindly."""

import threading
import time
from collections import Counter

import pytest
from sqlalchemy import update

from offering_sync.app.compose import build_pipeline
from offering_sync.emulators import digitalchalk
from offering_sync.emulators.faults import Faults
from offering_sync.engine import sync_pipeline
from offering_sync.errors import LockHeld, TransientError
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from offering_sync.state.tables import locks
from tests.conftest import dc_source
from tests.systems import System


def rhythm_pipeline(dc_app, rhythm: System):
    return build_pipeline("digitalchalk", "rhythm", CoreSettings(),
                          source_connector=dc_source(dc_app),
                          target_connector=rhythm.target())


def our_keys(rhythm: System) -> Counter:
    return Counter(r.get("sys_external_id") for r in rhythm.stored().values())


def test_a_live_run_keeps_its_lock_while_one_batch_outlasts_the_ttl(sqlite_url):
    """The heartbeat beats from a thread during sends, not only between pages."""
    dc_app = digitalchalk.create_app(digitalchalk.Catalog(40, seed=3))
    rhythm = System("rhythm")
    rhythm.app.state.faults.configure(Faults(latency_ms=300))  # one batch: ~3.5 s
    store = StateStore(sqlite_url)
    options = CoreSettings().options(lock_ttl_seconds=1.0)
    first_started = threading.Event()
    outcome: dict = {}

    def first_run():
        pipeline = rhythm_pipeline(dc_app, rhythm)
        first_started.set()
        outcome["first"] = sync_pipeline(pipeline, store, options)

    worker = threading.Thread(target=first_run)
    worker.start()
    first_started.wait()
    time.sleep(0.6)
    with store.engine.begin() as conn:  # look at the lock as another host would
        conn.execute(update(locks).values(owner="another-host:1"))
    refused = 0
    while worker.is_alive():
        time.sleep(1.3)  # longer than the TTL: only a live heartbeat keeps the lock
        if not worker.is_alive():
            break
        with pytest.raises(LockHeld):
            sync_pipeline(rhythm_pipeline(dc_app, rhythm), StateStore(sqlite_url), options)
        refused += 1
    worker.join()
    first = outcome["first"].counts
    assert refused >= 1 and first.created + first.failed == 40 and first.created > 25
    assert set(our_keys(rhythm).values()) == {1} and len(rhythm.stored()) == first.created


def test_a_retried_batch_whose_creates_landed_creates_nothing_twice(sqlite_url):
    """A Prefect task retry after the answer was lost: the intents let the target find them."""
    dc_app = digitalchalk.create_app(digitalchalk.Catalog(30, seed=4))
    rhythm = System("rhythm")
    pipeline = rhythm_pipeline(dc_app, rhythm)
    original = pipeline.target.upsert
    calls = {"n": 0}

    def answer_lost_once(batch, *, overwrite, policy):
        calls["n"] += 1
        results = original(batch, overwrite=overwrite, policy=policy)
        if calls["n"] == 1:
            raise TransientError("connection dropped after the writes", system="rhythm")
        return results

    pipeline.target.upsert = answer_lost_once  # type: ignore[method-assign]
    pipeline.target._forget_index()

    def like_prefect(_label, step):  # retries=2 on TransientError, in a fresh call
        for attempt in range(3):
            try:
                return step()
            except TransientError:
                if attempt == 2:
                    raise
        return None

    summary = sync_pipeline(pipeline, StateStore(sqlite_url), run_batch=like_prefect)
    loaded = summary.counts.created + summary.counts.adopted
    assert calls["n"] == 2 and loaded + summary.counts.failed == 30 and loaded > 15
    assert len(rhythm.stored()) == loaded and set(our_keys(rhythm).values()) == {1}
    assert {d.stage for d in StateStore(sqlite_url).dead_letters()} <= {"map", "map_target"}


def test_lost_create_answers_are_looked_for_not_sent_again(sqlite_url):
    """Rhythm with 20 % of answers dropped after the write: each offering exactly once."""
    dc_app = digitalchalk.create_app(digitalchalk.Catalog(200, seed=5))
    rhythm = System("rhythm")
    rhythm.app.state.faults.configure(Faults(drop_rate=0.2, seed=11))
    summary = sync_pipeline(rhythm_pipeline(dc_app, rhythm), StateStore(sqlite_url))
    assert rhythm.app.state.faults.injected.get("drop", 0) > 10
    held = our_keys(rhythm)
    c = summary.counts
    assert c.created + c.failed == 200 and c.created > 120
    assert len(held) == c.created and set(held.values()) == {1}
    assert {d["stage"] for d in summary.dead_letters} <= {"map", "map_target"}


def test_an_interrupted_create_is_adopted_by_the_next_run_not_duplicated(sqlite_url):
    """The process died after SmarterProctoring created records and before they were recorded."""
    from offering_sync.connectors.smarterproctoring import SmarterProctoringTarget

    source = System("rhythm", 12)
    sp = System("smarterproctoring")
    store = StateStore(sqlite_url)

    class Crash(BaseException):
        pass

    target = sp.target()
    original = SmarterProctoringTarget.upsert

    def die_after_writing(self, batch, *, overwrite, policy):
        original(self, batch, overwrite=overwrite, policy=policy)
        raise Crash()

    target.upsert = die_after_writing.__get__(target)  # type: ignore[method-assign]
    pipeline = build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                              source_connector=source.source(), target_connector=target)
    with pytest.raises(Crash):
        sync_pipeline(pipeline, store)
    assert len(sp.stored()) == 12 and store.links_for("rhythm", "smarterproctoring",
                                                      source.stored()) == {}
    again = sync_pipeline(build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                                         source_connector=source.source(),
                                         target_connector=sp.target()), store)
    assert (again.counts.adopted, again.counts.created) == (12, 0)
    assert len(sp.stored()) == 12


def test_an_ambiguous_interrupted_create_becomes_a_dead_letter_never_a_merge(sqlite_url):
    from offering_sync.connectors.smarterproctoring import SmarterProctoringTarget

    source = System("rhythm", 1)
    sp = System("smarterproctoring")
    store = StateStore(sqlite_url)

    class Crash(BaseException):
        pass

    target = sp.target()
    original = SmarterProctoringTarget.upsert

    def die_after_writing(self, batch, *, overwrite, policy):
        original(self, batch, overwrite=overwrite, policy=policy)
        raise Crash()

    target.upsert = die_after_writing.__get__(target)  # type: ignore[method-assign]
    with pytest.raises(Crash):
        sync_pipeline(build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                                     source_connector=source.source(), target_connector=target),
                      store)
    (made,) = sp.stored().values()
    twin = {k: v for k, v in made.items() if k != "sid"}  # an identical one, made by hand
    sp.app.state.install.offerings["CO" + "f" * 32] = {**twin, "sid": "CO" + "f" * 32}
    again = sync_pipeline(build_pipeline("rhythm", "smarterproctoring", CoreSettings(),
                                         source_connector=source.source(),
                                         target_connector=sp.target()), store)
    assert again.counts.failed == 1 and len(sp.stored()) == 2
    (dead,) = store.dead_letters()
    assert "refusing to guess" in dead.error
