"""A host is lost mid-run: the flow-run process and its worker die together (SIGKILL).

What issue 12 saw: the next Salesforce-bound run sat silent for ~3.5 minutes on the slot the
dead run still held, and the dead run stayed Running forever. Here:

- the next run to the same target waits for the ``target-salesforce`` slot with a log line
  naming it, and starts once the dead run's lease (60 s) has expired, well inside its bound;
- the dead run stops sending heartbeats and the automation ``offering-sync ops setup`` made
  marks it Crashed, which also frees its deployment's slot;
- running the dead run's deployment again resumes its work: nothing is loaded twice.
"""

import os
import signal
import time
from collections import Counter

import pytest

from offering_sync.emulators import digitalchalk, rhythm, salesforce, server
from offering_sync.emulators.server import connection_env
from tests.ops.conftest import (
    OFFERING_SYNC,
    PREFECT,
    deploy,
    descendants,
    kill_hard,
    logs_of,
    project_deployments,
    readme_command,
    run_deployment,
    shipped,
    wait_final,
)

DC_RECORDS, RHYTHM_RECORDS = 200, 20


def _copy(name: str, source: str) -> dict:
    base = shipped("digitalchalk-to-salesforce-incremental")
    return {**base, "name": name, "parameters": {"source": source, "target": "salesforce"},
            "tags": [f"source-{source}", "target-salesforce"]}


def _holds_target_slot(prefect, flow_run_id) -> bool:
    with prefect.client() as client:
        running = client.read_flow_run(flow_run_id).state.is_running()
        taken = client.read_global_concurrency_limit_by_name("target-salesforce").active_slots
    return running and taken == 1


def _freeze_while_holding_slot(prefect, worker_pid: int, flow_run_id, deadline: float) -> None:
    """Stop (SIGSTOP) the worker and its flow-run process at a moment the run holds the slot.

    The run takes the target's slot per group of batches and gives it back in between; a kill
    in such a gap would leave the next run nothing to wait for. Frozen, it can neither release
    nor take the slot, so what the server says then is what the kill leaves behind.
    """
    while True:
        frozen = [worker_pid, *descendants(worker_pid)]
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        if _holds_target_slot(prefect, flow_run_id):
            return
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the run never held the target's slot"
        time.sleep(0.3)


@pytest.mark.slow
def test_a_lost_host_frees_its_slot_in_bounded_time_and_its_run_is_marked_crashed(
        production_server, tmp_path):
    prefect = production_server
    pool = prefect.pool("ops-host-lost")
    prefect.fresh_limit("target-salesforce", 1)
    setup = prefect.run(OFFERING_SYNC, "ops", "setup", "--crash-after", "40").stdout
    assert "mark runs Crashed after missed heartbeats (after 40 s without a heartbeat)" in setup
    spec = project_deployments(pool, names=[], env={"OFFERING_SYNC_SLOT_LOG_SECONDS": "3"},
                               extra=[_copy("host-lost-digitalchalk", "digitalchalk"),
                                      _copy("host-lost-rhythm", "rhythm")])
    assert spec["deployments"][0]["work_pool"]["job_variables"]["env"][
        "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == "30"  # as shipped: heartbeats are on
    sf_app = salesforce.create_app(post_seconds=0.5)
    rhythm_app = rhythm.create_app()
    rhythm_app.state.tenant.seed(RHYTHM_RECORDS)
    with server.serve_in_thread(digitalchalk.create_app(digitalchalk.Catalog(DC_RECORDS, seed=9))
                                ) as dc, server.serve_in_thread(rhythm_app) as rh, \
            server.serve_in_thread(sf_app) as sf:
        env = {**connection_env("digitalchalk", dc.url), **connection_env("rhythm", rh.url),
               **connection_env("salesforce", sf.url), "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "10",
               "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
        deploy(prefect, spec, tmp_path)

        # 1. A run to Salesforce holds the target's slot when its host is lost.
        doomed = run_deployment(prefect, "sync-offerings/host-lost-digitalchalk")
        worker = prefect.start_worker(env, "doomed-worker", pool)
        deadline = time.monotonic() + 90
        while not _holds_target_slot(prefect, doomed):
            assert time.monotonic() < deadline, "the run never held the target's slot"
            time.sleep(0.2)
        time.sleep(2)  # a few batches in
        _freeze_while_holding_slot(prefect, worker.pid, doomed, deadline + 60)
        inspected = prefect.run(PREFECT, *readme_command("prefect gcl inspect")[1:]).stdout
        victims = kill_hard(worker.pid)
        killed_at = time.monotonic()
        assert len(victims) >= 2  # the worker and the flow-run process under it
        worker.wait(timeout=10)

        # 2. The next Salesforce-bound run (another pipeline) waits for the slot, saying so,
        #    and starts once the dead run's lease has expired.
        with prefect.worker(env, "next-worker", pool):
            following = run_deployment(prefect, "sync-offerings/host-lost-rhythm")
            (after,) = wait_final(prefect, [following], timeout=300)
            waited_for = time.monotonic() - killed_at
            # 3. The dead run is marked Crashed by the automation, from missed heartbeats.
            (dead,) = wait_final(prefect, [doomed], timeout=120)
            crashed_after = time.monotonic() - killed_at
            # 4. Its deployment runs again at once (Crashed freed its slot), resuming.
            again = run_deployment(prefect, "sync-offerings/host-lost-digitalchalk")
            (resumed,) = wait_final(prefect, [again], timeout=120)

    print(f"next run done {waited_for:.0f} s after the kill; dead run Crashed after "
          f"{crashed_after:.0f} s")  # shown with -s: the measured numbers the README cites
    assert after.state.name == "Completed", after.state.message
    assert after.state.message == f"{RHYTHM_RECORDS} extracted · {RHYTHM_RECORDS} created"
    log = logs_of(prefect, following, containing="target-salesforce")
    assert "waiting" in log and "for a slot of global concurrency limit target-salesforce" in log
    assert "1 of 1 slots in use" in log and "giving up after 240 s" in log
    # lease 60 s + the repossessor's 15 s loop, plus a worker's start: inside the 240 s bound
    assert waited_for < 150, waited_for

    assert "'active_slots': 1" in inspected or "active_slots" in inspected and " 1" in inspected
    assert dead.state.type.value == "CRASHED"
    assert "no heartbeat for 40 s" in dead.state.message

    assert resumed.state.name == "Completed", resumed.state.message
    assert "recovered the lock of run" in logs_of(prefect, again, containing="recovered")
    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert set(held.values()) == {1}
    assert Counter(key.split(":")[0] for key in held) == {"digitalchalk": DC_RECORDS,
                                                          "rhythm": RHYTHM_RECORDS}
