"""The Docker work-pool example, checked as far as a machine without a Docker engine allows.

The image itself is never built here. Instead: docker/prefect.yaml is read by Prefect's own
model and mirrors the process deployments; the Dockerfile's RUN lines are the README's install
and .ci/run's check; the slow test runs those RUN lines in a fresh virtualenv from a copy of
the build context (what ``docker build`` would send, .dockerignore applied) and deploys
docker/prefect.yaml to a Docker work pool on a real Prefect server.
"""

import fnmatch
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ops.conftest import ROOT, readme_command

DOCKERFILE = (ROOT / "Dockerfile").read_text()
SPEC = yaml.safe_load((ROOT / "docker" / "prefect.yaml").read_text())
PROCESS = yaml.safe_load((ROOT / "prefect.yaml").read_text())


def _instructions(name: str) -> list[str]:
    text = DOCKERFILE.replace("\\\n", " ")
    return [line.split(None, 1)[1].strip() for line in text.splitlines()
            if line.split(None, 1)[:1] == [name]]


def _workdir() -> str:
    (workdir,) = _instructions("WORKDIR")
    return workdir


def test_docker_deployments_mirror_the_process_ones_and_read_nothing_from_the_host():
    from prefect.cli.deploy._models import PrefectYamlModel
    from prefect.flows import load_flow_from_entrypoint

    model = PrefectYamlModel.model_validate(SPEC)
    assert model.pull == [{"prefect.deployments.steps.set_working_directory": {
        "directory": _workdir()}}]  # a folder inside the image, not this machine's $PWD
    assert model.build is None and model.push is None
    process = {d["name"]: d for d in PROCESS["deployments"]}
    assert {d.name.removesuffix("-docker") for d in model.deployments} == set(process)
    for deployment in model.deployments:
        twin = process[deployment.name.removesuffix("-docker")]
        module, _, function = deployment.entrypoint.partition(":")
        assert "/" not in module and not module.endswith(".py")  # the installed package
        assert load_flow_from_entrypoint(deployment.entrypoint).name == \
            load_flow_from_entrypoint(twin["entrypoint"]).name
        assert deployment.parameters == twin["parameters"]
        assert [s.model_dump(exclude_unset=True) for s in deployment.schedules or []] == \
            twin.get("schedules", [])
        assert deployment.concurrency_limit.model_dump(exclude_none=True) == \
            {**twin["concurrency_limit"], "collision_strategy": "ENQUEUE"}
        variables = deployment.work_pool.job_variables
        assert variables["env"] == twin["work_pool"]["job_variables"]["env"]
        assert "{{" not in yaml.safe_dump(variables)  # nothing rendered from the deployer
        tag = variables["image"]
        assert f"docker build -t {tag} ." in DOCKERFILE
        assert f"docker build -t {tag} ." in (ROOT / "README.md").read_text()


def test_the_dockerfile_installs_as_the_readme_does_and_checks_as_ci_does():
    (run,) = _instructions("RUN")
    assert run == "pip install . && offering-sync mappings check"
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install -e . &&" in readme
    assert ".venv/bin/offering-sync mappings check" in (ROOT / ".ci" / "run").read_text()
    (base,) = _instructions("FROM")
    python = re.fullmatch(r"python:(3\.\d+)-slim", base).group(1)
    assert f'requires-python = ">={python}"' in (ROOT / "pyproject.toml").read_text()
    assert _instructions("COPY") == [f". {_workdir()}"]
    kept = _context(ROOT)
    for needed in ("pyproject.toml", "README.md", "offering_sync/__init__.py",
                   "connectors/salesforce/target.py", "flows/sync.py", "mappings"):
        assert any(p == needed or p.startswith(needed + "/") for p in kept), needed
    for left_out in (".venv", ".git", "tests", "bench"):
        assert not any(p == left_out or p.startswith(left_out + "/") for p in kept), left_out


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = path.split("/")
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(p, pattern[3:]) for p in parts):
                return True
        elif fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(parts[0], pattern):
            return True
    return False


def _context(root: Path) -> list[str]:
    """The files ``docker build`` sends: the repository minus .dockerignore (links as links)."""
    patterns = [line.strip() for line in (root / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    kept = []
    for folder, dirs, files in os.walk(root):
        rel = Path(folder).relative_to(root).as_posix()
        rel = "" if rel == "." else rel + "/"
        dirs[:] = [d for d in dirs if not _ignored(rel + d, patterns)]
        kept += [rel + f for f in files if not _ignored(rel + f, patterns)]
        kept += [rel + d for d in dirs if (Path(folder) / d).is_symlink()]
    return kept


@pytest.mark.slow
def test_the_dockerfile_steps_build_a_working_install_and_its_deployments_register(
        production_server, tmp_path):
    image = tmp_path / "image"
    workdir = image / _workdir().lstrip("/")
    for rel in _context(ROOT):
        source, target = ROOT / rel, workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    venv = tmp_path / "python"
    subprocess.run([sys._base_executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    (run,) = _instructions("RUN")
    built = subprocess.run(["bash", "-c", run], cwd=workdir, env=env, capture_output=True,
                           text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    # The flows load from the installed package, from any folder (as a container's engine does)
    loaded = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "from prefect.flows import "
         "load_flow_from_entrypoint as load; import offering_sync; "
         "print(load('offering_sync.flows.sync:sync_offerings').name, offering_sync.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    name, where = loaded.stdout.split()
    assert name == "sync-offerings" and str(venv) in where

    for line in ("prefect work-pool create offering-sync-docker", "prefect deploy --all --prefect"):
        production_server.cli(*readme_command(line)[1:])
    with production_server.client() as client:
        deployment = client.read_deployment_by_name(
            "sync-offerings/digitalchalk-to-salesforce-backfill-docker")
        pool = client.read_work_pool("offering-sync-docker")
    assert pool.type == "docker"
    assert deployment.entrypoint == "offering_sync.flows.sync:sync_offerings"
    assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
        "directory": _workdir()}}]
    assert deployment.job_variables["image"] == "offering-sync:0.1.0"
    assert deployment.global_concurrency_limit.limit == 1  # where Prefect keeps it
    assert deployment.concurrency_options.collision_strategy == "ENQUEUE"
