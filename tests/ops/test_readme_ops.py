"""The README's "Operating it" stays true to the code: its settings table is generated."""

from offering_sync.app.ops import env_table
from tests.ops.conftest import ROOT, readme_command


def test_the_settings_table_in_the_readme_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert env_table() in readme, "run `offering-sync ops env --write`"
    table = env_table()
    for expected in ("`OFFERING_SYNC_STATE_URL`", "`OFFERING_SYNC_SLOT_LEASE_SECONDS` | `60`",
                     "`OFFERING_SYNC_SALESFORCE_CLIENT_SECRET` |  | credential: or a Prefect "
                     "Secret block `salesforce-client-secret`",
                     "`OFFERING_SYNC_RHYTHM_TENANT_ID`"):
        assert expected in table


def test_readme_commands_are_found_as_the_ops_tests_read_them():
    assert readme_command("offering-sync ops setup --alert-webhook", **{
        "https://hooks.example.org/offering-sync": "http://x"}) == [
        "offering-sync", "ops", "setup", "--alert-webhook", "http://x"]
    assert readme_command("prefect flow-run ls") == [
        "prefect", "flow-run", "ls", "--state", "Completed with failures"]
    assert readme_command("prefect flow-run inspect", **{"<flow-run-id>": "abc"})[-1] == "abc"
    assert readme_command("prefect gcl inspect") == ["prefect", "gcl", "inspect",
                                                     "target-salesforce"]
    assert readme_command("prefect deploy --all --prefect") == [
        "prefect", "deploy", "--all", "--prefect-file", "docker/prefect.yaml"]


def test_ops_env_write_brings_a_stale_table_up_to_date(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from offering_sync.app.cli import app
    from offering_sync.app.ops import END, START

    stale = f"# x\n\n{START}\n| old | table |\n{END}\n\nmore\n"
    (tmp_path / "README.md").write_text(stale)
    monkeypatch.chdir(tmp_path)
    first = CliRunner().invoke(app, ["ops", "env", "--write"])
    again = CliRunner().invoke(app, ["ops", "env", "--write"])
    assert first.exit_code == 0 and "README.md updated" in first.output
    assert "already up to date" in again.output
    assert (tmp_path / "README.md").read_text() == f"# x\n\n{env_table()}\n\nmore\n"
