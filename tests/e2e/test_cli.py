"""The `offering-sync` command as a user runs it (a real process, real sockets)."""

import json
import os
import subprocess
import sys

import pytest

from offering_sync.emulators import server
from tests.faults.test_sigkill import _env


def run(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-c", "from offering_sync.app.cli import main; main()",
                           *args], env=env or os.environ.copy(), capture_output=True, text=True,
                          timeout=timeout)


def test_sync_json_prints_the_counts_and_exits_zero_then_one_on_failures(live_env):
    env, catalog, sf_app = live_env
    first = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--json", env=env)
    assert first.returncode == 0, first.stderr
    body = json.loads(first.stdout)
    assert {k: body[k] for k in ("extracted", "created", "updated", "unchanged", "failed")} == \
        {"extracted": 40, "created": 40, "updated": 0, "unchanged": 0, "failed": 0}
    assert body["run_id"]
    catalog.edit(catalog.offering_id(0), {"beginDate": "not a date"})
    second = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--json", env=env)
    assert second.returncode == 1
    assert json.loads(second.stdout)["failed"] == 1
    listed = run("dead-letters", "list", "--json", env=env)
    (dead,) = json.loads(listed.stdout)["dead_letters"]
    assert dead["source_id"] == catalog.offering_id(0) and dead["field"] == "starts_at"
    runs = run("runs", "--json", env=env)
    assert [r["status"] for r in json.loads(runs.stdout)] == ["succeeded", "succeeded"]


def test_dead_letters_retry_from_the_cli_resolves_what_now_loads(live_env):
    from offering_sync.emulators.faults import Faults

    env, _catalog, sf_app = live_env
    sf_app.state.faults.configure(Faults(reject_rate=0.3, seed=2))
    first = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--json", env=env)
    failed = json.loads(first.stdout)["failed"]
    assert first.returncode == 1 and failed > 0
    sf_app.state.faults.configure(Faults())
    retried = run("dead-letters", "retry", "--json", env=env)
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)[0]["created"] == failed
    assert json.loads(run("dead-letters", "list", "--json", env=env).stdout)["total"] == 0


def test_dry_run_reports_the_plan_and_writes_nothing(live_env):
    env, _catalog, sf_app = live_env
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--dry-run",
               "--json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["created"] == 40
    assert sf_app.state.posts == 0


def test_dry_run_asks_the_target_which_exist_and_says_would_update(live_env):
    env, catalog, sf_app = live_env
    assert run("sync", "--source", "digitalchalk", "--target", "salesforce", env=env
               ).returncode == 0
    catalog.edit(catalog.offering_id(1), {"title": "Changed"})
    for index in (2, 3):  # linked nowhere any more, but still in the org: would be updates
        from offering_sync.state import StateStore

        StateStore(env["OFFERING_SYNC_STATE_URL"]).forget_links(
            "digitalchalk", "salesforce", [catalog.offering_id(index)])
    posts = sf_app.state.posts
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--dry-run",
               "--json", env=env)
    body = json.loads(done.stdout)
    assert done.returncode == 0 and (body["created"], body["updated"]) == (0, 3)
    assert sf_app.state.posts == posts


def test_a_dry_run_with_a_wrong_secret_fails(live_env):
    env, _catalog, sf_app = live_env
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--dry-run",
               env={**env, "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": "wrong-secret-xyz"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "wrong-secret-xyz" not in done.stderr + done.stdout
    assert sf_app.state.posts == 0


@pytest.mark.parametrize("args,needle", [
    (["sync", "--source", "moodle", "--target", "salesforce"], "unknown system 'moodle'"),
    (["sync", "--source", "salesforce", "--target", "digitalchalk"], "not supported"),
    (["sync", "--source", "digitalchalk", "--target", "salesforce", "--since", "yesterday"],
     "--since 'yesterday' is not an ISO 8601"),
])
def test_user_errors_are_one_sentence_and_exit_2(args, needle, tmp_path):
    env = {**os.environ, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    done = run(*args, env=env)
    assert done.returncode == 2
    assert needle in done.stderr and "Traceback" not in done.stderr


def test_a_missing_credential_names_the_setting(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env["OFFERING_SYNC_STATE_URL"] = f"sqlite:///{tmp_path / 's.db'}"
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", env=env)
    assert done.returncode == 2
    assert "OFFERING_SYNC_DIGITALCHALK_TOKEN is not set" in done.stderr


def test_mappings_check_passes_on_the_shipped_files():
    done = run("mappings", "check")
    assert done.returncode == 0, done.stderr
    assert "digitalchalk_to_canonical.yaml" in done.stdout


def test_an_unreachable_base_url_fails_at_start_with_one_sentence(tmp_path):
    from offering_sync.emulators.server import free_port

    env = _env(f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}",
               f"sqlite:///{tmp_path / 's.db'}")
    started = __import__("time").monotonic()
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "cannot reach digitalchalk" in done.stderr
    assert "OFFERING_SYNC_DIGITALCHALK_BASE_URL" in done.stderr
    assert __import__("time").monotonic() - started < 30


def test_a_broken_mapping_file_fails_at_start_naming_file_and_line(tmp_path):
    from offering_sync.connectors import MAPPINGS_DIR

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    path = mappings / "canonical_to_salesforce.yaml"  # an overlay of one file is enough
    path.write_text((MAPPINGS_DIR / path.name).read_text().replace("transforms: [none_if_empty, pairs]",
                                             "transforms: [none_if_empty, pears]"))
    env = {**os.environ, "OFFERING_SYNC_MAPPINGS_DIR": str(mappings),
           "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
           "OFFERING_SYNC_DIGITALCHALK_TOKEN": "t", "OFFERING_SYNC_SALESFORCE_TOKEN": "t"}
    done = run("sync", "--source", "digitalchalk", "--target", "salesforce", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "canonical_to_salesforce.yaml:" in done.stderr and "unknown transform 'pears'" in \
        done.stderr


def test_emulate_prints_base_urls_and_demo_credentials():
    proc = subprocess.Popen([sys.executable, "-c", "from offering_sync.app.cli import main; main()",
                             "emulate", "digitalchalk", "salesforce"], stdout=subprocess.PIPE,
                            text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(7)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    text = "".join(lines)
    assert "export OFFERING_SYNC_DIGITALCHALK_BASE_URL=http://127.0.0.1:" in text
    assert "export OFFERING_SYNC_DIGITALCHALK_TOKEN=dc-demo-token" in text
    assert "export OFFERING_SYNC_SALESFORCE_CLIENT_SECRET=sf-demo-secret" in text


@pytest.fixture(scope="module")
def all_systems():
    from offering_sync.emulators.server import connection_env
    from tests.systems import SOURCES, System

    systems = {name: System(name, 25) for name in SOURCES}
    running = {name: server.start(s.app) for name, s in systems.items()}
    env = {}
    for name, r in running.items():
        env.update(connection_env(name, r.url))
    yield env, systems
    for r in running.values():
        r.stop()


@pytest.mark.parametrize("pair", [(s, t) for s in ("digitalchalk", "salesforce", "rhythm",
                                                   "smarterproctoring")
                                  for t in ("salesforce", "rhythm", "smarterproctoring")
                                  if s != t])
def test_the_cli_syncs_every_pair_in_the_readme(all_systems, pair, tmp_path):
    source, target = pair
    connections, systems = all_systems  # shared: earlier pairs add to later sources
    env = {**os.environ, **connections,
           "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'pair.db'}"}
    held = len(systems[source].stored())
    done = run("sync", "--source", source, "--target", target, "--json", env=env)
    body = json.loads(done.stdout)
    assert body["extracted"] == held and body["created"] > 0
    assert body["created"] + body["updated"] + body["failed"] == held
    assert done.returncode == (0 if body["failed"] == 0 else 1)
