"""Issue 13: systems are plugins a separate distribution can add, and the installed package has
one import namespace that lives beside a user's own connectors/ and flows/."""

import csv
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from offering_sync.emulators import digitalchalk, salesforce, server
from tests.e2e.test_cli import run
from tests.faults.test_sigkill import _env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def csv_plugin(tmp_path_factory) -> Path:
    """The example plugin installed as its own distribution into a folder of its own."""
    site = tmp_path_factory.mktemp("plugin-site")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-build-isolation", "--target", str(site),
                           str(ROOT / "examples" / "csv_plugin")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return site


def with_plugin(env: dict, site: Path) -> dict:
    return {**env, "PYTHONPATH": os.pathsep.join([str(site), env.get("PYTHONPATH", "")])}


def test_the_plugin_is_listed_by_offering_sync_systems(csv_plugin):
    done = run("systems", "--json", env=with_plugin(dict(os.environ), csv_plugin))
    assert done.returncode == 0, done.stderr
    listed = {s["slug"]: s for s in json.loads(done.stdout)}
    assert listed["csv"]["directions"] == ["source", "target"]
    assert listed["csv"]["module"] == "offering_sync_csv"
    assert {"digitalchalk", "salesforce", "rhythm", "smarterproctoring"} <= set(listed)


def test_digitalchalk_to_csv_and_csv_to_salesforce_through_the_cli(csv_plugin, tmp_path):
    catalog = digitalchalk.Catalog(25, seed=12)
    sf_app = salesforce.create_app()
    exported = tmp_path / "offerings.csv"
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        env = with_plugin(_env(dc.url, sf.url, f"sqlite:///{tmp_path / 's.db'}"), csv_plugin)
        env["OFFERING_SYNC_CSV_TARGET_FILE"] = str(exported)
        out = run("sync", "--source", "digitalchalk", "--target", "csv", "--json", env=env)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["created"] == 25
        with exported.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 25 and {r["id"] for r in rows} == {r["id"] for r in catalog}

        env["OFFERING_SYNC_CSV_SOURCE_FILE"] = str(exported)
        back = run("sync", "--source", "csv", "--target", "salesforce", "--json", env=env)
        assert back.returncode == 0, back.stderr
        assert json.loads(back.stdout)["created"] == 25
    names = sorted(o["courseOfferingName"] for o in sf_app.state.org.offerings.values())
    assert names == sorted(r["title"] for r in catalog)


@pytest.mark.slow
def test_the_wheel_installs_beside_a_project_with_its_own_connectors_and_flows(tmp_path):
    wheels = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("offering_sync-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "offering_sync/py.typed" in names  # type checkers read our hints
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE")
               for n in names), names
    assert "Apache-2.0" in meta and "Provides-Extra: postgres" in meta
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # the dependencies come from this test's environment; only the wheel is installed fresh
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True).stdout.strip()
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                                str(wheel)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    project = tmp_path / "my-project"
    for package in ("connectors", "flows"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"MINE = '{package}'\n")
    probe = ("import connectors, flows, offering_sync.connectors.salesforce as sf, "
             "offering_sync.flows.sync\n"
             "from offering_sync.app.registry import all_systems\n"
             "assert connectors.MINE == 'connectors' and flows.MINE == 'flows'\n"
             "assert 'site-packages' in sf.__file__\n"
             "print(sorted(all_systems()))")
    done = subprocess.run([str(python), "-c", probe], cwd=project, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert "salesforce" in done.stdout
