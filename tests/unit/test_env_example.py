"""``.env.example`` lists every setting with its default and meaning, and is never stale."""

import re
from pathlib import Path

from offering_sync.app.env_example import render
from offering_sync.app.registry import all_systems
from offering_sync.settings import CoreSettings

ROOT = Path(__file__).resolve().parents[2]


def test_the_file_matches_the_settings_classes():
    assert (ROOT / ".env.example").read_text(encoding="utf-8") == render(), \
        ".env.example is stale: run `offering-sync docs --write`"


def _entries(text: str) -> dict[str, tuple[str, str]]:
    """variable → (meaning line, default) for every commented-out assignment."""
    lines = text.splitlines()
    found = {}
    for before, line in zip(lines, lines[1:], strict=False):
        assignment = re.fullmatch(r"# (OFFERING_SYNC_[A-Z0-9_]+)=(.*)", line)
        if assignment:
            found[assignment.group(1)] = (before, assignment.group(2))
    return found


def test_every_setting_of_the_core_and_each_system_is_listed_with_its_default():
    entries = _entries(render())
    expected = {f"OFFERING_SYNC_{name.upper()}": field
                for name, field in CoreSettings.model_fields.items()}
    for spec in all_systems().values():
        expected |= {f"{spec.env_prefix}{name.upper()}": field
                     for name, field in spec.settings_class.model_fields.items()}
    assert set(entries) == set(expected)
    assert entries["OFFERING_SYNC_STATE_URL"][1] == "sqlite:///offering-sync.db"
    assert entries["OFFERING_SYNC_DIGITALCHALK_PAGE_SIZE"][1] == "100"
    assert entries["OFFERING_SYNC_DIGITALCHALK_TOKEN"][1] == ""  # a secret has no default
    assert "[one of: report, deactivate, delete]" in entries["OFFERING_SYNC_ON_DELETE"][0]
    assert "[≥ 0, ≤ 1]" in entries["OFFERING_SYNC_MAX_FAILURE_RATIO"][0]


def test_every_line_is_commented_out_so_copying_it_to_env_changes_nothing():
    assert all(line == "" or line.startswith("#") for line in render().splitlines())


def test_the_core_and_the_shared_connection_settings_all_say_what_they_mean():
    entries = _entries(render())
    shared = ("BASE_URL", "TIMEOUT", "RATE_LIMIT", "RATE_BURST", "MAX_CONNECTIONS", "RETRIES",
              "RETRY_BUDGET")
    for variable, (meaning, _default) in entries.items():
        core = variable.removeprefix("OFFERING_SYNC_").lower() in CoreSettings.model_fields
        if core or variable.endswith(shared) or "DIGITALCHALK" in variable \
                or "RHYTHM" in variable or "SMARTERPROCTORING" in variable:
            assert "(no description)" not in meaning, variable
