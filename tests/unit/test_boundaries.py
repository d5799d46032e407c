"""The layering the project promises, checked over the import statements of the real folders.

```
offering_sync.app.cli                      the command line: may import anything
offering_sync.flows                        Prefect: core, connectors, wiring
offering_sync.app.* (wiring)               registry, compose, docs: core + entry points
offering_sync.connectors / .emulators      stand on the core; never on each other
offering_sync (core)                       model, mapping, state, engine: nothing above
```
"""

import ast
from pathlib import Path

import offering_sync

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = {"digitalchalk", "salesforce", "rhythm", "smarterproctoring"}


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (relative imports resolved to our package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _under(names: set[str], *prefixes: str) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


def _core_files():
    for path in (ROOT / "offering_sync").rglob("*.py"):
        relative = path.relative_to(ROOT / "offering_sync").parts
        if relative[0] in {"app", "connectors", "flows", "emulators", "mappings"}:
            continue
        yield path


def test_the_core_imports_nothing_above_it():
    above = ("offering_sync.connectors", "offering_sync.flows", "offering_sync.emulators",
             "offering_sync.app", "prefect", "connectors", "flows", "emulators")
    checked = 0
    for path in _core_files():
        checked += 1
        bad = _under(imports(path), *above)
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
    assert checked > 15


def test_connectors_stand_only_on_the_core():
    for path in (ROOT / "connectors").rglob("*.py"):
        bad = _under(imports(path), "offering_sync.flows", "offering_sync.emulators",
                     "offering_sync.app", "prefect")
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_no_connector_imports_another():
    checked = set()
    for path in (ROOT / "connectors").rglob("*.py"):
        part = path.relative_to(ROOT / "connectors").parts[0].removesuffix(".py")
        if part not in SYSTEMS:
            continue
        checked.add(part)
        others = {f"offering_sync.connectors.{s}" for s in SYSTEMS - {part}}
        assert not _under(imports(path), *others), path.name
    assert checked == SYSTEMS  # modules and packages (connectors/salesforce/) alike


def test_emulators_never_import_connectors_flows_or_the_app():
    for path in (ROOT / "emulators").rglob("*.py"):
        bad = _under(imports(path), "offering_sync.connectors", "offering_sync.flows",
                     "offering_sync.app", "connectors")
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_wiring_knows_no_system_by_name_and_nothing_above_it():
    for path in (ROOT / "offering_sync" / "app").glob("*.py"):
        if path.name == "cli.py":
            continue
        names = imports(path)
        assert not _under(names, "offering_sync.flows", "offering_sync.app.cli"), path.name
        named = {n for n in _under(names, "offering_sync.connectors", "offering_sync.emulators")}
        assert not named, f"{path.name} imports {named}: systems come from entry points"


def test_flows_never_import_the_command_line():
    for path in (ROOT / "flows").glob("*.py"):
        assert not _under(imports(path), "offering_sync.app.cli"), path.name


def test_nothing_imports_the_top_level_folder_names():
    """Installed, only ``offering_sync`` exists: ``import connectors`` would break."""
    for folder in ("offering_sync", "connectors", "flows", "emulators", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if "/offering_sync/" in str(path) and path.parent.name in {"connectors", "flows"}:
                continue
            bad = _under(imports(path), "connectors", "flows", "emulators")
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_public_surface_matches_all():
    public = sorted(n for n in dir(offering_sync) if not n.startswith("_")
                    and not isinstance(getattr(offering_sync, n), type(offering_sync)))
    assert sorted(offering_sync.__all__) == public


def test_each_target_documents_exactly_the_retire_policies_it_carries_out():
    from offering_sync.app.registry import all_systems

    for spec in all_systems().values():
        target = getattr(spec.make_target, "__self__", None)
        modes = set(getattr(target, "retire_modes", ())) if target else set()
        assert set(spec.retire) == modes, spec.slug
