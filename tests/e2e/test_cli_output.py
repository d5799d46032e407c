"""What the command line shows a user: dead letters in pages, reasons grouped at the end of a
run, live progress only on a terminal, run history with durations, eval-able emulators and
reconcile without ``nan``. Every test drives the real command in a process of its own."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from offering_sync.emulators import salesforce, server, smarterproctoring
from offering_sync.emulators.faults import Faults
from offering_sync.state import StateStore
from tests.e2e.test_cli import run
from tests.faults.test_sigkill import cli_args

SYNC = ("sync", "--source", "digitalchalk", "--target", "salesforce")
BIN = str(Path(sys.executable).parent)


def _failing_sync(live_env, *args: str) -> subprocess.CompletedProcess:
    """40 offerings: 39 fail one way (the org has no academic session for their start), 1
    another (a start that is not a date)."""
    env, catalog, sf_app = live_env
    sf_app.state.org.sessions.clear()
    catalog.edit(catalog.offering_id(3), {"beginDate": "not a date"})
    return run(*SYNC, *args, env=env)


def test_a_failing_run_ends_with_reasons_grouped_not_a_line_per_record(live_env, tmp_path):
    env, catalog, _sf = live_env
    done = _failing_sync(live_env)
    assert done.returncode == 1
    assert "why 40 records were not synced" in done.stdout, done.stdout
    rows = [line for line in done.stdout.splitlines() if "│" in line and "map" in line]
    assert len(rows) == 2, done.stdout  # two reasons, not forty lines
    sessions = next(r for r in rows if "academicSessionId" in r)
    assert "│    39 │ map_target │ courseOffering.academicSessionId" in sessions
    dates = next(r for r in rows if "starts_at" in r)
    assert dates.split("│")[1].strip() == "1" and catalog.offering_id(3) in dates
    assert "duration" in done.stdout and "records/s" in done.stdout
    assert done.stderr.strip() == "Some records were not synced: see `offering-sync " \
        "dead-letters list --pipeline digitalchalk:salesforce`."  # no per-record warnings


def test_dead_letters_are_paged_counted_and_filtered(live_env, tmp_path):
    env, catalog, _sf = live_env
    _failing_sync(live_env)

    page = run("dead-letters", "list", "--limit", "10", env=env)
    assert page.returncode == 0, page.stderr
    assert "dead letters 1–10 of 40" in page.stdout
    assert "next page: --offset 10 (--limit 10)" in page.stdout

    shown = {int(line.split("│")[1]) for line in page.stdout.splitlines()
             if line.startswith("│ ") and line.split("│")[1].strip().isdigit()}
    last = json.loads(run("dead-letters", "list", "--json", "--limit", "10", "--offset", "35",
                          env=env).stdout)
    assert (last["total"], last["offset"], len(last["dead_letters"])) == (40, 35, 5)
    assert len(shown) == 10 and shown.isdisjoint(d["id"] for d in last["dead_letters"])

    by_field = json.loads(run("dead-letters", "list", "--json", "--field", "starts_at",
                              env=env).stdout)
    assert by_field["total"] == 1
    assert by_field["dead_letters"][0]["source_id"] == catalog.offering_id(3)
    by_stage = json.loads(run("dead-letters", "list", "--json", "--stage", "map_target",
                              "--pipeline", "digitalchalk:salesforce", env=env).stdout)
    assert by_stage["total"] == 39
    assert {d["stage"] for d in by_stage["dead_letters"]} == {"map_target"}
    unknown = run("dead-letters", "list", "--pipeline", "digitalchalk:rhythm", env=env)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "no pipeline 'digitalchalk:rhythm' has run here; known: digitalchalk:salesforce" \
        in unknown.stderr  # not an empty list


def test_json_output_is_only_json_with_the_failure_groups(live_env, tmp_path):
    env, catalog, _sf = live_env
    done = _failing_sync(live_env, "--json")
    assert done.returncode == 1
    body = json.loads(done.stdout)  # the whole of stdout is one JSON document
    assert body["failed"] == 40
    assert sorted(g["count"] for g in body["failure_groups"]) == [1, 39]
    assert body["records_per_second"] >= 0 and body["seconds"] > 0
    assert done.stderr == ""  # no progress line, no hint: not a terminal


def test_without_a_terminal_there_is_no_progress_line(live_env):
    env, _catalog, _sf = live_env
    done = run(*SYNC, env=env)
    assert done.returncode == 0 and done.stderr == ""
    assert "digitalchalk->salesforce · run" in done.stdout


def _on_a_terminal(args: list[str], env: dict) -> tuple[str, str, int]:
    """Run with stderr on a pseudo-terminal (as in a shell), stdout on a pipe."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cli_args(*args), env={**env, "TERM": "xterm", "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            seen.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    out = proc.stdout.read()
    proc.wait(timeout=30)
    return out, b"".join(seen).decode(errors="replace"), proc.returncode


def test_on_a_terminal_progress_shows_rate_a_bar_with_eta_and_keeps_its_last_line(tmp_path):
    """SmarterProctoring says how many offerings it holds: a bar with an ETA, on stderr only."""
    sp = smarterproctoring.create_app(faults=Faults(latency_ms=120))
    sp.state.install.seed(500)
    with server.serve_in_thread(sp) as source, \
            server.serve_in_thread(salesforce.create_app()) as target:
        env = {**os.environ, **server.connection_env("smarterproctoring", source.url),
               **server.connection_env("salesforce", target.url),
               "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
               # one page at a time (120 ms each), so the bar is drawn mid-run however fast
               # the rest of the sync is
               "OFFERING_SYNC_SMARTERPROCTORING_CONCURRENCY": "1"}
        out, terminal, _code = _on_a_terminal(
            ["sync", "--source", "smarterproctoring", "--target", "salesforce", "--json"], env)
    assert json.loads(out)["extracted"] == 500  # stdout: the JSON and nothing else
    assert "records/s" in terminal and "ETA " in terminal
    assert re.search(r" [1-4]00/500 ", terminal)  # mid-run, against the source's total
    last = terminal.replace("\r\n", "\n").split("\r")[-1]
    assert "500 extracted" in last and "500/500" in last  # the final line stays


def test_runs_shows_whole_pipeline_names_durations_and_json(tmp_path):
    env = {**os.environ, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    store = StateStore(env["OFFERING_SYNC_STATE_URL"])
    for _ in range(2):
        run_id = store.start_run("digitalchalk->salesforce", "digitalchalk", "salesforce",
                                 "incremental", {})
        time.sleep(0.05)
        store.finish_run(run_id, "succeeded", {"extracted": 40, "created": 40})
    wide = run("runs", env={**env, "COLUMNS": "160"})
    assert wide.returncode == 0, wide.stderr
    header = next(line for line in wide.stdout.splitlines() if "pipeline" in line)
    assert "duration" in header.split("┃")[6]
    rows = [line.split("│") for line in wide.stdout.splitlines() if "succeeded" in line]
    assert [r[2].strip() for r in rows] == ["digitalchalk->salesforce"] * 2
    assert all(re.fullmatch(r"\d+\.\ds", r[6].strip()) for r in rows)  # e.g. "1.2s"
    narrow = run("runs", env={**env, "COLUMNS": "80"})  # too narrow for the table
    lines = narrow.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 or "…" not in narrow.stdout
    heads = [line for line in lines if "succeeded" in line]
    assert len(heads) == 2 and all("digitalchalk->salesforce" in h for h in heads)
    assert "…" not in narrow.stdout and narrow.stdout.count("duration ") == 2
    listed = json.loads(run("runs", "--json", "--pipeline", "digitalchalk:salesforce",
                            env=env).stdout)
    assert [r["pipeline"] for r in listed] == ["digitalchalk->salesforce"] * 2
    assert all(r["seconds"] > 0 and r["finished_at"] and r["created"] == 40 for r in listed)


def test_emulate_prints_only_exports_that_bash_can_eval_then_sync_with(tmp_path):
    proc = subprocess.Popen(cli_args("emulate", "digitalchalk", "salesforce", "--records", "12"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        exports = proc.stdout.read()  # the command closes stdout once the emulators serve
        lines = exports.splitlines()
        assert lines and all(line.startswith("export OFFERING_SYNC_") for line in lines)
        script = exports + "\n" \
            f"OFFERING_SYNC_STATE_URL=sqlite:///{tmp_path / 's.db'} offering-sync sync " \
            "--source digitalchalk --target salesforce --json"
        done = subprocess.run(["bash", "-e", "-c", script],
                              env={**_clean_env(), "PATH": BIN + os.pathsep + os.environ["PATH"]},
                              capture_output=True, text=True, timeout=120)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["created"] == 12
    assert "# digitalchalk emulator at http://127.0.0.1:" in proc.stderr.read()


def test_emulate_detach_works_inside_eval_and_stops_with_kill(tmp_path):
    script = f"""
eval "$(offering-sync emulate --detach digitalchalk salesforce --records 7)"
test -n "$OFFERING_SYNC_EMULATOR_PID"
OFFERING_SYNC_STATE_URL=sqlite:///{tmp_path / 's.db'} offering-sync sync \\
  --source digitalchalk --target salesforce --json
kill "$OFFERING_SYNC_EMULATOR_PID"
echo "pid=$OFFERING_SYNC_EMULATOR_PID"
"""
    done = subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path,
                          env={**_clean_env(), "PATH": BIN + os.pathsep + os.environ["PATH"]},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    body, _, pid_line = done.stdout.rpartition("pid=")
    assert json.loads(body)["created"] == 7
    assert "stop them with: kill $OFFERING_SYNC_EMULATOR_PID" in done.stderr
    pid = int(pid_line)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    assert not _alive(pid), "the detached emulators did not stop on kill"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split()[2] == "Z")


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}


def test_reconcile_prints_ids_never_nan(live_env, tmp_path):
    """pandas 3's string columns turn a missing id into NaN; the report must show ids or nothing."""
    env, _catalog, sf_app = live_env
    assert run(*SYNC, env=env).returncode == 0
    out, terminal, code = _on_a_terminal(["reconcile", "--source", "digitalchalk", "--target",
                                          "salesforce", "--json"], env)
    assert code == 0 and json.loads(out)["ok"] == 40  # stdout: only the JSON
    assert "reading digitalchalk: 40 offerings" in terminal  # progress, on the terminal
    assert "reading salesforce: 40 offerings" in terminal
    offerings = sf_app.state.org.offerings
    gone = sorted(offerings)[0]
    del offerings[gone]  # deleted by hand in Salesforce: missing in the target
    salesforce.seed(sf_app, 1)  # one nobody synced: extra in the target
    report = tmp_path / "report.csv"
    done = run("reconcile", "--source", "digitalchalk", "--target", "salesforce", "--csv",
               str(report), env=env)
    assert done.returncode == 1, done.stderr
    assert "nan" not in done.stdout.lower()
    assert "| 39 | 1 | 1 | 0 |" in done.stdout
    missing = next(line for line in done.stdout.splitlines() if line.startswith("| missing"))
    extra = next(line for line in done.stdout.splitlines() if line.startswith("| extra"))
    assert missing.split("|")[2].strip() and not missing.split("|")[3].strip()
    assert not extra.split("|")[2].strip() and extra.split("|")[3].strip()
    rows = list(csv.DictReader(report.open(newline="")))
    assert not any("nan" in (value or "").lower() for row in rows for value in row.values())
    body = json.loads(run("reconcile", "--source", "digitalchalk", "--target", "salesforce",
                          "--json", env=env).stdout)
    by_status = {r["status"]: r for r in body["rows"]}
    assert by_status["missing"]["target_id"] is None and by_status["missing"]["source_id"]
    assert by_status["extra"]["source_id"] is None and by_status["extra"]["target_id"]


def test_reconcile_fix_repairs_in_one_run_and_prints_one_json_document(live_env):
    env, _catalog, sf_app = live_env
    assert run(*SYNC, env=env).returncode == 0
    offerings = sf_app.state.org.offerings
    del offerings[sorted(offerings)[0]]  # deleted by hand in Salesforce
    salesforce.seed(sf_app, 1)  # the target's own: never touched
    own = {k: dict(v) for k, v in offerings.items()}
    bad = run("reconcile", "--source", "digitalchalk", "--target", "salesforce", "--fix",
              "--on-delete", "archive", env=env)
    assert bad.returncode == 2 and "--on-delete 'archive' is not one of report, deactivate, " \
        "delete" in bad.stderr and "Traceback" not in bad.stderr
    done = run("reconcile", "--source", "digitalchalk", "--target", "salesforce", "--fix",
               "--json", env=env)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)  # one document: the report and what the fix did
    assert (body["missing"], body["extra"]) == (1, 1)
    fixed = body["fix"]  # an upsert by external ID: Salesforce may call it either
    assert (fixed["created"] + fixed["updated"], fixed["status"]) == (1, "succeeded"), fixed
    assert len(offerings) == 41 and all(offerings[k] == v for k, v in own.items())
    again = json.loads(run("reconcile", "--source", "digitalchalk", "--target", "salesforce",
                           "--json", env=env).stdout)
    assert (again["ok"], again["missing"], again["extra"]) == (40, 0, 1)


def test_a_record_that_still_fails_keeps_the_exit_status_at_1(live_env):
    """An unchanged bad record is skipped by later runs (not hammered), yet it is not loaded:
    the run says so and exits 1, as the README's exit status promises."""
    env, catalog, _sf = live_env
    catalog.edit(catalog.offering_id(3), {"beginDate": "not a date"})
    assert run(*SYNC, env=env).returncode == 1
    again = run(*SYNC, "--json", env=env)
    body = json.loads(again.stdout)
    assert (body["failed"], body["skipped"], body["still_failing"]) == (0, 1, 1)
    assert again.returncode == 1
    shown = run(*SYNC, env={**env, "COLUMNS": "200"})
    assert shown.returncode == 1 and "Some records were not synced" in shown.stderr
    lines = [line for line in shown.stdout.splitlines() if line.strip()]
    header = next(line for line in lines if "extracted" in line)
    row = lines[lines.index(header) + 2]  # under the rule
    names = header.replace("still failing", "still_failing").replace("records/s", "rate").split()
    counts = dict(zip(names, row.split(), strict=True))
    assert (counts["skipped"], counts["still_failing"]) == ("1", "1"), shown.stdout  # adds up


def test_runs_say_how_many_offerings_were_gone_from_the_source_and_what_was_done(tmp_path):
    env = {**os.environ, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    store = StateStore(env["OFFERING_SYNC_STATE_URL"])
    for counts in ({"extracted": 95, "unchanged": 95, "missing_in_source": 5},
                   {"extracted": 95, "unchanged": 95, "missing_in_source": 5, "deactivated": 5}):
        run_id = store.start_run("smarterproctoring->salesforce", "smarterproctoring",
                                 "salesforce", "full", {})
        store.finish_run(run_id, "succeeded", counts)
    wide = run("runs", env={**env, "COLUMNS": "200"})
    assert "gone from source" in wide.stdout
    cells = [line.split("│")[-2].strip() for line in wide.stdout.splitlines()
             if "succeeded" in line]
    assert cells == ["5 (5 deactivated)", "5"]  # newest first
    listed = json.loads(run("runs", "--json", env=env).stdout)
    assert [(r["missing_in_source"], r.get("deactivated")) for r in listed] == [(5, 5), (5, None)]
