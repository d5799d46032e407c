"""Changing a mapping one file at a time, through the real command: export, overlay, check.

A folder named by OFFERING_SYNC_MAPPINGS_DIR overlays the bundled files; `mappings check` says
which file serves each pair and each crosswalk table, prints the warnings for undocumented
source fields, and checks only what the named pipelines use.
"""

from __future__ import annotations

import json
import os

from offering_sync.app.compose import bundled_files
from offering_sync.connectors import MAPPINGS_DIR
from tests.e2e.test_cli import run

SYNC = ("sync", "--source", "digitalchalk", "--target", "salesforce")


def _env(tmp_path, **extra: str) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    return {**base, "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 's.db'}", **extra}


def test_export_writes_the_bundled_files_and_never_overwrites_edits(tmp_path):
    folder = tmp_path / "mine"
    done = run("mappings", "export", str(folder), env=_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in folder.iterdir()) == sorted(bundled_files())
    assert "crosswalks.yaml" in bundled_files()
    for path in folder.iterdir():
        assert path.read_bytes() == bundled_files()[path.name].read_bytes()
    assert f"export OFFERING_SYNC_MAPPINGS_DIR={folder}" in done.stderr

    edited = folder / "canonical_to_salesforce.yaml"
    edited.write_text(edited.read_text() + "# mine\n")
    again = run("mappings", "export", str(folder), "canonical_to_salesforce.yaml",
                env=_env(tmp_path))
    assert again.returncode == 2 and "Traceback" not in again.stderr
    assert f"{edited} already exists; it may hold your edits (--force overwrites it)" in \
        again.stderr
    assert edited.read_text().endswith("# mine\n")
    forced = run("mappings", "export", str(folder), "canonical_to_salesforce.yaml", "--force",
                 env=_env(tmp_path))
    assert forced.returncode == 0 and not edited.read_text().endswith("# mine\n")

    unknown = run("mappings", "export", str(folder), "canonical_to_moodle.yaml",
                  env=_env(tmp_path))
    assert unknown.returncode == 2
    assert "no bundled mapping file 'canonical_to_moodle.yaml'; bundled: " in unknown.stderr


def test_check_says_which_file_serves_each_pair_and_each_table(tmp_path):
    folder = tmp_path / "mine"
    run("mappings", "export", str(folder), "canonical_to_rhythm.yaml", env=_env(tmp_path))
    (folder / "crosswalks.yaml").write_text('rhythm_courses:\n  digitalchalk: course-9\n')
    done = run("mappings", "check", env=_env(tmp_path, OFFERING_SYNC_MAPPINGS_DIR=str(folder)))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"✓ canonical → rhythm: {folder / 'canonical_to_rhythm.yaml'} (yours)" in lines
    assert f"✓ canonical → salesforce: {MAPPINGS_DIR / 'canonical_to_salesforce.yaml'} " \
        "(bundled)" in lines
    assert f"  crosswalk rhythm_courses: {folder / 'crosswalks.yaml'} (yours)" in lines
    assert f"  crosswalk rhythm_training_locations: {MAPPINGS_DIR / 'crosswalks.yaml'} " \
        "(bundled)" in lines  # tables merge one by one


def test_an_undocumented_source_field_is_a_warning_in_check_and_is_read(live_env, tmp_path):
    env, catalog, sf_app = live_env
    folder = tmp_path / "mine"
    folder.mkdir()
    name = "digitalchalk_to_canonical.yaml"
    rows = (MAPPINGS_DIR / name).read_text().splitlines()
    line = next(i for i, row in enumerate(rows, 1) if row.startswith("  title:"))
    rows[line - 1] = "  title: {coalesce: [departmentCode, title], transforms: [strip]}"
    (folder / name).write_text("\n".join(rows) + "\n")
    checked = run("mappings", "check", env={**env, "OFFERING_SYNC_MAPPINGS_DIR": str(folder)})
    assert "Traceback" not in checked.stderr
    assert f"warning: {folder / name}:{line}: field 'title': source field 'departmentCode' is " \
        "not in the vendor's documented schema; it is read if present" in checked.stdout
    assert checked.returncode == 0, checked.stderr  # a warning, not a refusal

    catalog.edit(catalog.offering_id(0), {"departmentCode": "NURS-101"})
    synced = run(*SYNC, "--json", env={**env, "OFFERING_SYNC_MAPPINGS_DIR": str(folder)})
    assert synced.returncode == 0, synced.stderr
    names = sorted(o["courseOfferingName"] for o in sf_app.state.org.offerings.values())
    assert "NURS-101" in names and len(names) == 40


def test_a_pipeline_needs_only_the_crosswalk_tables_its_own_files_use(live_env, tmp_path):
    """Syncing into Salesforce never asks for a Rhythm table (14.10)."""
    env, _catalog, _sf = live_env
    folder = tmp_path / "mine"
    folder.mkdir()
    name = "canonical_to_rhythm.yaml"
    (folder / name).write_text((MAPPINGS_DIR / name).read_text().replace(
        "table: rhythm_courses", "table: my_rhythm_courses"))
    mine = {**env, "OFFERING_SYNC_MAPPINGS_DIR": str(folder)}

    everything = run("mappings", "check", env=mine)
    assert everything.returncode == 1
    assert "no crosswalk table 'my_rhythm_courses'" in everything.stderr
    assert f"✗ canonical → rhythm: {folder / name} (yours)" in everything.stderr

    only_salesforce = run("mappings", "check", "digitalchalk:salesforce", env=mine)
    assert only_salesforce.returncode == 0, only_salesforce.stderr
    assert "rhythm" not in only_salesforce.stdout
    # The Salesforce mapping resolves its references by lookups in the org: the crosswalk
    # tables of the same name only override, so none is required here.
    assert "crosswalk" not in only_salesforce.stdout

    synced = run(*SYNC, "--json", env=mine)
    assert synced.returncode == 0, synced.stderr
    assert json.loads(synced.stdout)["created"] == 40


def test_a_mappings_folder_or_crosswalks_file_that_is_not_there_is_an_error(live_env, tmp_path):
    env, _catalog, sf_app = live_env
    """A sync with such a set-up refuses to start (`mappings check`: tests/e2e/test_cli_mistakes)."""
    missing = tmp_path / "no-such-folder"
    done = run(*SYNC, env={**env, "OFFERING_SYNC_MAPPINGS_DIR": str(missing)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"error: mappings folder {missing} does not exist (OFFERING_SYNC_MAPPINGS_DIR)" in \
        done.stderr  # never "use the bundled files"
    nowhere = tmp_path / "crosswalks.yaml"
    done = run(*SYNC, env={**env, "OFFERING_SYNC_CROSSWALKS_FILE": str(nowhere)})
    assert done.returncode == 2
    assert f"error: crosswalks file {nowhere} does not exist (OFFERING_SYNC_CROSSWALKS_FILE)" \
        in done.stderr
    assert sf_app.state.posts == 0  # nothing was sent with a set-up that is wrong
