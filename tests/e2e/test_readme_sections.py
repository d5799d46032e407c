"""The README's Troubleshooting, Customising mappings and Python API sections do what they say.

Each Troubleshooting row is made to happen through the real command, and what the row quotes
(``…`` stands for any text) must be what the command prints, with the exit status the row gives.
The Customising mappings commands run as a user would run them, in bash, and the Python API
example file runs as a script.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.state import StateStore
from tests.e2e.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = str(Path(sys.executable).parent)  # where the offering-sync console script is installed
SYNC = ("sync", "--source", "digitalchalk", "--target", "salesforce")


def section(title: str) -> str:
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.DOTALL | re.MULTILINE)
    assert found, f"README has no '## {title}' section"
    return found.group(1)


def troubleshooting_rows() -> list[tuple[int, str, int]]:
    rows = []
    for line in section("Troubleshooting").splitlines():
        found = re.match(r"\| (\d+) \| `(.+?)`(?: … `(.+?)`)? \(exit (\d)\) \|", line)
        if found:
            quoted = found.group(2) + (" … " + found.group(3) if found.group(3) else "")
            rows.append((int(found.group(1)), quoted, int(found.group(4))))
    return rows


def matches(quoted: str, printed: str) -> bool:
    flat = " ".join(printed.split())
    pattern = ".*?".join(re.escape(" ".join(part.split())) for part in quoted.split("…"))
    return re.search(pattern, flat) is not None


def in_bash(script: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-e", "-c", script], env={**env, "PATH": BIN + os.pathsep +
                                                              env.get("PATH", "")},
                          cwd=cwd, capture_output=True, text=True, timeout=180)


def _missing_token(env, tmp_path, sf_app):
    return run(*SYNC, env={**env, "OFFERING_SYNC_DIGITALCHALK_TOKEN": ""})


def _bad_setting(env, tmp_path, sf_app):
    return run(*SYNC, env={**env, "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "abc"})


def _unreachable(env, tmp_path, sf_app):
    from offering_sync.emulators.server import free_port

    return run(*SYNC, env={**env, "OFFERING_SYNC_DIGITALCHALK_BASE_URL":
                           f"http://127.0.0.1:{free_port()}/dc/api/v5"})


def _wrong_token(env, tmp_path, sf_app):
    return run(*SYNC, env={**env, "OFFERING_SYNC_DIGITALCHALK_TOKEN": "not-the-token"})


def _read_only_target(env, tmp_path, sf_app):
    return run("sync", "--source", "salesforce", "--target", "digitalchalk", env=env)


def _postgres_scheme(env, tmp_path, sf_app):
    return run("runs", env={**env, "OFFERING_SYNC_STATE_URL": "postgres://me@127.0.0.1/db"})


def _mapping_mistake(env, tmp_path, sf_app):
    mine = tmp_path / "my-mappings"
    mine.mkdir()
    name = "canonical_to_salesforce.yaml"
    (mine / name).write_text((MAPPINGS_DIR / name).read_text().replace(
        "[none_if_empty, pairs]", "[none_if_empty, pears]"))
    return run(*SYNC, env={**env, "OFFERING_SYNC_MAPPINGS_DIR": str(mine)})


def _no_session_in_the_org(env, tmp_path, sf_app):
    """The org has no AcademicSession spanning the offerings' starts; returns what it had."""
    sessions = dict(sf_app.state.org.sessions)
    sf_app.state.org.sessions.clear()
    done = run(*SYNC, env=env)
    done.sessions = sessions  # type: ignore[attr-defined]
    return done


def _lock_held(env, tmp_path, sf_app):
    store = StateStore(env["OFFERING_SYNC_STATE_URL"])
    store.acquire_lock("digitalchalk->salesforce", "someone-else", ttl_seconds=300)
    return run(*SYNC, env=env)


def _unquoted_arrow(env, tmp_path, sf_app):
    StateStore(env["OFFERING_SYNC_STATE_URL"]).start_run(
        "digitalchalk->salesforce", "digitalchalk", "salesforce", "incremental", {})
    done = in_bash("offering-sync dead-letters list --pipeline digitalchalk->salesforce", env,
                   tmp_path)
    assert (tmp_path / "salesforce").exists()  # the redirection the row explains
    return done


SCENARIOS = {1: _missing_token, 2: _bad_setting, 3: _unreachable, 4: _wrong_token,
             5: _read_only_target, 6: _postgres_scheme, 7: _mapping_mistake,
             8: _no_session_in_the_org, 9: _lock_held, 10: _unquoted_arrow}


def test_troubleshooting_lists_the_ten_errors():
    assert [number for number, _, _ in troubleshooting_rows()] == list(range(1, 11))


@pytest.mark.parametrize(("number", "quoted", "status"), troubleshooting_rows(),
                         ids=lambda v: str(v) if isinstance(v, int) else None)
def test_each_troubleshooting_row_is_what_the_command_prints(live_env, tmp_path, number,
                                                             quoted, status):
    env, _catalog, sf_app = live_env
    done = SCENARIOS[number](env, tmp_path, sf_app)
    printed = done.stdout + done.stderr
    assert "Traceback" not in printed
    assert matches(quoted, printed), f"row {number} quotes {quoted!r}; the command printed:\n" \
        f"{printed}"
    assert done.returncode == status
    if status == 2:  # a set-up mistake: one sentence on stderr, nothing on stdout
        assert done.stdout == "" and done.stderr.startswith("error: ")
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_fixes_the_table_gives_work(live_env, tmp_path):
    """Rows 5, 8 and 10: the command each fix names does what the row says."""
    env, _catalog, sf_app = live_env
    rows = {number: line for line in section("Troubleshooting").splitlines()
            if (number := line.split("|")[1].strip() if line.startswith("| ") else "")}
    assert "`offering-sync systems`" in rows["5"]
    listed = {s["slug"]: s["directions"] for s in json.loads(run("systems", "--json",
                                                                 env=env).stdout)}
    assert listed["digitalchalk"] == ["source"]

    assert "`offering-sync dead-letters retry`" in rows["8"]
    failed = _no_session_in_the_org(env, tmp_path, sf_app)
    assert failed.returncode == 1
    sf_app.state.org.sessions.update(failed.sessions)  # the fix: the sessions exist in the org
    fixed = env
    retried = run("dead-letters", "retry", "--json", env=fixed)
    assert retried.returncode == 0, retried.stderr
    assert json.loads(retried.stdout)[0]["created"] == 40
    assert "--pipeline digitalchalk:salesforce" in rows["10"]
    left = run("dead-letters", "list", "--pipeline", "digitalchalk:salesforce", "--json",
               env=fixed)
    assert left.returncode == 0 and json.loads(left.stdout)["total"] == 0


def _commands(block_of: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", section(block_of), re.DOTALL)
    assert blocks, f"no bash block in {block_of}"
    return [line.split("  #")[0].strip() for line in blocks[0].splitlines() if line.strip()]


def test_customising_mappings_runs_as_written_and_the_edit_reaches_salesforce(live_env,
                                                                              tmp_path):
    env, catalog, sf_app = live_env
    export, *rest = _commands("Customising mappings")
    assert export.startswith("offering-sync mappings export ")
    exported = in_bash(export, env, tmp_path)
    assert exported.returncode == 0, exported.stderr
    edited = tmp_path / "my-mappings" / "canonical_to_salesforce.yaml"
    assert sorted(p.name for p in edited.parent.iterdir()) == [edited.name]

    (new_line,) = re.findall(r"```yaml\n(.*?)\n```", section("Customising mappings"))
    field = new_line.split(":")[0]
    lines = edited.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(field + ":"))
    lines[at] = new_line
    edited.write_text("\n".join(lines) + "\n")

    checked = in_bash("\n".join(rest), env, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = " ".join(checked.stdout.split())
    assert f"canonical → salesforce: {edited} (yours)" in text
    assert "digitalchalk → canonical:" in text and "(bundled)" in text
    assert "crosswalk salesforce" not in text  # Salesforce: references come from org lookups
    assert text.count("canonical → salesforce") == 2  # once per check: all, then the pipeline
    assert "rhythm" not in text.split("canonical → salesforce", 2)[2]  # the pipeline's only

    synced = run(*SYNC, "--json", env={**env, "OFFERING_SYNC_MAPPINGS_DIR":
                                       str(edited.parent)})
    assert synced.returncode == 0, synced.stderr
    names = sorted(o["courseOfferingName"] for o in sf_app.state.org.offerings.values())
    assert names == sorted(f"{r['title'].strip()} (digitalchalk)" for r in catalog)


@pytest.mark.slow  # a fresh Prefect home: its ephemeral server migrates a new database (~45 s)
def test_the_python_api_example_runs(tmp_path):
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "python_api.py")], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert "digitalchalk->salesforce: succeeded, 30 created, 0 updated, 0 unchanged, 0 failed" \
        in done.stdout
    assert "subflow: succeeded, 30 unchanged" in done.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "prefect"]  # nothing else in the folder


def test_the_readme_python_snippet_runs(live_env, monkeypatch, capsys):
    env, _catalog, sf_app = live_env
    for key, value in env.items():
        if key.startswith("OFFERING_SYNC_"):
            monkeypatch.setenv(key, value)
    snippet = re.findall(r"```python\n(.*?)```", section("Using it"), re.DOTALL)[0]
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert capsys.readouterr().out.split() == ["succeeded", "40", "0"]
    assert len(sf_app.state.org.offerings) == 40
    assert namespace["nightly"].name == "nightly-offerings"  # a Prefect flow, ready to call
