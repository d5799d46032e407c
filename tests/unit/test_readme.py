"""The README says what the code does: its generated tables and its two commands."""

import re
from pathlib import Path

from offering_sync.app.system_docs import END, START, render

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_systems_section_matches_the_registry_and_mapping_files():
    text = README.read_text(encoding="utf-8")
    section = re.search(re.escape(START) + ".*?" + re.escape(END), text, re.DOTALL)
    assert section, "README lost its generated section"
    assert section.group(0) == render(), "README is stale: run `offering-sync docs --write`"


def test_the_readme_names_two_quick_start_commands_that_ci_runs():
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"^python3 -m venv \.venv && .*$", text, re.MULTILINE)
    assert len(commands) == 2
    assert commands[0].endswith("offering-sync demo") and commands[1].endswith("pytest")
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "pytest" in ci and "README.md" in ci
