"""The quick start's demo: its three promises, and nothing left in the folder it ran from."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # three Prefect flow runs on a fresh ephemeral server (~40 s)
def test_the_demo_keeps_its_promises_and_leaves_the_current_folder_empty(tmp_path):
    cwd = tmp_path / "here"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect"), "TMPDIR": str(tmp_path / "tmp"),
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    (tmp_path / "tmp").mkdir()
    done = subprocess.run([sys.executable, "-c", "from offering_sync.app.cli import main; main()",
                           "demo", "--records", "40", "--changes", "3"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("✓") == 4
    assert list(cwd.iterdir()) == []  # no state file, no .migrate-lock
    (state,) = re.findall(r"state in (\S+demo\.db)", done.stdout)
    assert Path(state).is_file() and Path(state).is_relative_to(tmp_path / "tmp")
    runs = subprocess.run([sys.executable, "-c", "from offering_sync.app.cli import main; main()",
                           "runs", "--json"], env={**env, "OFFERING_SYNC_STATE_URL":
                                                   f"sqlite:///{state}"},
                          capture_output=True, text=True, timeout=120)
    assert runs.returncode == 0 and len(__import__("json").loads(runs.stdout)) == 3
