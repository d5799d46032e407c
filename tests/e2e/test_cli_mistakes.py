"""The real CLI with the mistakes users make: one sentence, the documented exit code, no traceback."""

import json
import os
import signal
import subprocess
import time

import pytest

from offering_sync.emulators import digitalchalk, rhythm, salesforce, server
from offering_sync.emulators.faults import Faults
from offering_sync.state import StateStore
from tests.e2e.test_cli import run
from tests.faults.test_sigkill import _env, cli_args

SYNC = ("sync", "--source", "digitalchalk", "--target", "salesforce")


def sentence(done) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    return done.stderr


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("OFFERING_SYNC_SALESFORCE_BATCH_SIZE", "abc", "OFFERING_SYNC_SALESFORCE_BATCH_SIZE='abc'"),
    ("OFFERING_SYNC_MAX_FAILURE_RATIO", "2", "OFFERING_SYNC_MAX_FAILURE_RATIO='2'"),
    ("OFFERING_SYNC_ON_DELETE", "purge", "OFFERING_SYNC_ON_DELETE='purge'"),
])
def test_a_bad_setting_value_is_one_sentence_and_exit_2(live_env, variable, value, says):
    env, _catalog, _sf = live_env
    done = run(*SYNC, env={**env, variable: value})
    assert done.returncode == 2
    text = sentence(done)
    assert says in text and "bad setting" in text and len(text.strip().splitlines()) <= 3


def test_since_after_until_is_refused_before_anything_runs(live_env):
    env, _catalog, sf_app = live_env
    done = run(*SYNC, "--since", "2026-06-01", "--until", "2026-01-01", env=env)
    assert done.returncode == 2 and "is before --since" in sentence(done)
    assert sf_app.state.posts == 0


def test_json_always_prints_the_summary_object_even_when_the_run_fails(live_env):
    env, _catalog, _sf = live_env
    store = StateStore(env["OFFERING_SYNC_STATE_URL"])
    store.acquire_lock("digitalchalk->salesforce", "someone-else", ttl_seconds=300)
    done = run(*SYNC, "--json", env=env)
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["status"] == "refused" and "being synced by run someone-else" in body["message"]


@pytest.mark.parametrize("args", [(), ("sync", "--source", "digitalchalk"), ("--bogus",),
                                  ("sync", "--source", "x", "--target", "y", "--on-delete",
                                   "purge")])
def test_usage_mistakes_show_usage_not_a_traceback(args):
    done = run(*args)
    assert done.returncode == 2
    sentence(done)


def test_version_prints_and_exits_zero():
    done = run("--version")
    assert done.returncode == 0 and done.stdout.startswith("offering-sync ")


def test_sigterm_ends_the_run_cleanly_and_the_next_one_starts_at_once(tmp_path):
    """Prefect's cancellation sends SIGTERM: the run is recorded cancelled, its lock released."""
    catalog = digitalchalk.Catalog(600, seed=8)
    sf_app = salesforce.create_app(faults=Faults(latency_ms=80))
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(state_url)
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = _env(dc.url, sf.url, state_url)
        proc = subprocess.Popen(cli_args(*SYNC), env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while sf_app.state.posts < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 143 and "Traceback" not in err and "terminated" in err
        store = StateStore(state_url)
        assert store.runs()[0].status == "cancelled"
        again = subprocess.run(cli_args(*SYNC, "--json"), env=env, capture_output=True, text=True,
                               timeout=120)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "succeeded"
    assert len(sf_app.state.org.offerings) == 600


def test_a_wrong_target_url_stops_in_the_first_batch_with_no_dead_letters(tmp_path):
    """Pointed at another server, the sync stops at once instead of 600 'HTTP 404' letters."""
    catalog = digitalchalk.Catalog(600, seed=9)
    other = rhythm.create_app()  # answers 404 for every Salesforce path
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(salesforce.create_app()) as sf, \
            server.serve_in_thread(other) as wrong:
        env = {**_env(dc.url, sf.url, state_url), "OFFERING_SYNC_SALESFORCE_TOKEN": "t",
               "OFFERING_SYNC_SALESFORCE_BASE_URL": wrong.url}
        started = time.monotonic()
        done = run(*SYNC, env=env)
    assert done.returncode == 2, done.stderr
    assert "OFFERING_SYNC_SALESFORCE_BASE_URL" in sentence(done)
    assert time.monotonic() - started < 30
    assert StateStore(state_url).dead_letters() == []


def test_dead_letters_retry_refuses_an_unknown_pipeline(live_env):
    env, _catalog, _sf = live_env
    done = run("dead-letters", "retry", "--pipeline", "digitalchalk:nowhere", env=env)
    assert done.returncode == 2 and "no pipeline 'digitalchalk:nowhere'" in sentence(done)



def one_sentence(done) -> str:
    """stderr holds one sentence (a long one may wrap), stdout nothing, no traceback."""
    text = sentence(done)
    assert done.stdout == "", done.stdout
    assert text.startswith("error: ") and text.count("error: ") == 1, text
    return " ".join(text.split())


@pytest.mark.parametrize(("args", "settings", "says"), [
    # postgres:// and a missing credential: README Troubleshooting rows, run by its test
    (("dead-letters", "list"), {"OFFERING_SYNC_STATE_URL": "sqlite:////no/such/folder/s.db"},
     "folder /no/such/folder does not exist (OFFERING_SYNC_STATE_URL)"),
    (("mappings", "check"), {"OFFERING_SYNC_MAPPINGS_DIR": "/no/such/mappings"},
     "mappings folder /no/such/mappings does not exist (OFFERING_SYNC_MAPPINGS_DIR)"),
    (("mappings", "check"), {"OFFERING_SYNC_CROSSWALKS_FILE": "/no/such/crosswalks.yaml"},
     "crosswalks file /no/such/crosswalks.yaml does not exist (OFFERING_SYNC_CROSSWALKS_FILE)"),
    (("mappings", "check", "digitalchalk:moodle"), {}, "unknown system 'moodle'"),
    (("dead-letters", "list", "--pipeline", "digitalchalk:nowhere"), {},
     "no pipeline 'digitalchalk:nowhere' has run here; known: none yet"),
    (("history", "abc", "--pipeline", "digitalchalk:nowhere"), {},
     "no pipeline 'digitalchalk:nowhere' has run here"),
    (("runs", "--pipeline", "x:y"), {}, "no pipeline 'x:y' has run here"),
    (("dead-letters", "list", "--stage", "mapping"), {},
     "--stage 'mapping' is not one of extract, map, validate, map_target, load, retire"),
    (("mappings", "check", "digitalchalk-salesforce"), {},
     "'digitalchalk-salesforce' is not a pipeline; write SOURCE:TARGET"),
    (("emulate", "moodle"), {}, "no emulator for 'moodle'; known: digitalchalk"),
    (("sync", "--source", "digitalchalk", "--target", "salesforce", "--on-conflict", "mine"),
     {}, "--on-conflict 'mine' is not one of source-wins, target-wins, dead-letter"),
])
def test_set_up_mistakes_are_one_sentence_and_exit_2(tmp_path, args, settings, says):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env = {**env, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}", **settings}
    done = run(*args, env=env)
    assert done.returncode == 2, done.stderr
    assert says in one_sentence(done)


@pytest.mark.parametrize("args", [("dead-letters", "list", "--limit", "0"),
                                  ("mappings", "export")])
def test_wrong_option_values_show_the_usage_panel(tmp_path, args):
    done = run(*args, env={**os.environ,
                           "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}"})
    assert done.returncode == 2
    assert "Usage: " in sentence(done) or "Usage: " in done.stdout


def test_a_postgresql_store_without_its_driver_names_the_extra_to_install(tmp_path):
    """psycopg is the `postgres` extra; without it the store names the install command."""
    shim = tmp_path / "shim"
    (shim / "psycopg").mkdir(parents=True)
    (shim / "psycopg" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'psycopg'\", name='psycopg')\n")
    env = {**os.environ, "PYTHONPATH": str(shim),
           "OFFERING_SYNC_STATE_URL": "postgresql://me@127.0.0.1:9/db"}
    done = run("runs", env=env)
    assert done.returncode == 2
    assert "pip install 'offering-sync[postgres]'" in one_sentence(done)


# Every system set up (nothing is reached: each mistake is caught before any request).
_ALL_SET = {
    "OFFERING_SYNC_DIGITALCHALK_BASE_URL": "http://127.0.0.1:9/dc/api/v5",
    "OFFERING_SYNC_DIGITALCHALK_TOKEN": "dc-token",
    "OFFERING_SYNC_RHYTHM_BASE_URL": "http://127.0.0.1:9",
    "OFFERING_SYNC_RHYTHM_TENANT_ID": "tenant-1",
    "OFFERING_SYNC_RHYTHM_AUTH_URL": "http://127.0.0.1:9/oauth/token",
    "OFFERING_SYNC_RHYTHM_CLIENT_ID": "client", "OFFERING_SYNC_RHYTHM_CLIENT_SECRET": "secret",
    "OFFERING_SYNC_SALESFORCE_LOGIN_URL": "http://127.0.0.1:9",
    "OFFERING_SYNC_SALESFORCE_CLIENT_ID": "client",
    "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": "secret",
    "OFFERING_SYNC_SMARTERPROCTORING_BASE_URL": "http://127.0.0.1:9",
    "OFFERING_SYNC_SMARTERPROCTORING_TOKEN": "sp-token",
    "OFFERING_SYNC_SMARTERPROCTORING_INSTALL_SID": "AI" + "0" * 32,
}


@pytest.mark.parametrize(("variable", "system"), [
    ("OFFERING_SYNC_RHYTHM_BASE_URL", "rhythm"),
    ("OFFERING_SYNC_RHYTHM_AUTH_URL", "rhythm"),
    ("OFFERING_SYNC_SALESFORCE_LOGIN_URL", "salesforce"),
    ("OFFERING_SYNC_SALESFORCE_BASE_URL", "salesforce"),
    ("OFFERING_SYNC_SALESFORCE_INSTANCE_URL", "salesforce"),
    ("OFFERING_SYNC_SMARTERPROCTORING_BASE_URL", "smarterproctoring"),
    ("OFFERING_SYNC_DIGITALCHALK_BASE_URL", "digitalchalk"),
])
def test_a_url_setting_without_its_scheme_is_named_by_sync_and_check(tmp_path, variable,
                                                                      system):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env.update({**_ALL_SET, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
                variable: "127.0.0.1:9101"})
    target = "salesforce" if system == "digitalchalk" else system
    done = run("sync", "--source", "digitalchalk", "--target", target, env=env)
    assert done.returncode == 2, done.stderr
    text = one_sentence(done)
    assert f"{variable}='127.0.0.1:9101'" in text and "https://127.0.0.1:9101" in text, text
    checked = run("check", system, env=env)
    assert checked.returncode == 2
    line = " ".join(checked.stdout.split())
    assert f"✗ {system} · settings: bad setting: {variable}='127.0.0.1:9101'" in line, line
    assert "status page" not in line and "Traceback" not in checked.stderr


def _no_token_endpoint(status: int):
    """A server that answers every path as some web servers do: ``{"error": "Not Found"}``."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    phrase = {404: "Not Found", 405: "Method Not Allowed"}[status]

    async def answer(_request):
        return JSONResponse({"error": phrase, "statusCode": status}, status_code=status)

    return Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


@pytest.mark.parametrize(("system", "variable", "status"), [
    ("rhythm", "OFFERING_SYNC_RHYTHM_AUTH_URL", 404),
    ("rhythm", "OFFERING_SYNC_RHYTHM_AUTH_URL", 405),
    ("salesforce", "OFFERING_SYNC_SALESFORCE_LOGIN_URL", 404),
    ("salesforce", "OFFERING_SYNC_SALESFORCE_BASE_URL", 405),  # the earlier name, still read
])
def test_a_wrong_token_url_names_that_setting_not_the_credentials(tmp_path, system, variable,
                                                                  status):
    vendor_app = rhythm.create_app() if system == "rhythm" else salesforce.create_app()
    with server.serve_in_thread(vendor_app) as vendor, \
            server.serve_in_thread(_no_token_endpoint(status)) as nowhere, \
            server.serve_in_thread(digitalchalk.create_app(digitalchalk.Catalog(5))) as dc:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
        env.update({**server.connection_env("digitalchalk", dc.url),
                    **server.connection_env(system, vendor.url),
                    "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
                    variable: nowhere.url + ("" if system == "salesforce" else "/token")})
        if variable.endswith("_BASE_URL"):
            env.pop("OFFERING_SYNC_SALESFORCE_LOGIN_URL")
        done = run("sync", "--source", "digitalchalk", "--target", system, env=env)
        checked = run("check", system, env=env)
    assert done.returncode == 2, done.stderr
    text = one_sentence(done)
    assert f"not an OAuth token endpoint; check {variable} | HTTP {status}" in text, text
    assert "refused" not in text and "CLIENT" not in text
    assert checked.returncode == 2
    line = " ".join(next(x for x in checked.stdout.splitlines() if "· token:" in x).split())
    assert f"check {variable}" in line and "refused" not in line and "CLIENT" not in line, line
    assert vendor_app.state.tokens_issued == 0


@pytest.mark.parametrize("tenant", ["tenant-ho/../tenant-ho", "tenant ho?x=1", ".."])
def test_a_tenant_id_that_is_no_path_segment_is_refused_naming_it(tmp_path, tenant):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env.update({**_ALL_SET, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}",
                "OFFERING_SYNC_RHYTHM_TENANT_ID": tenant})
    says = f"bad setting: OFFERING_SYNC_RHYTHM_TENANT_ID={tenant!r}: a tenant id is one URL path"
    done = run("sync", "--source", "digitalchalk", "--target", "rhythm", env=env)
    assert done.returncode == 2, done.stderr
    assert says in one_sentence(done)
    checked = run("check", "rhythm", env=env)
    assert checked.returncode == 2 and f"✗ rhythm · settings: {says}" in checked.stdout
