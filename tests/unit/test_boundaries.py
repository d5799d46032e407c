"""The layering the project promises, checked over the import statements."""

import ast
from pathlib import Path

import offering_sync

ROOT = Path(__file__).resolve().parents[2]
COMPOSERS = {"cli.py", "compose.py", "system_docs.py"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0] if not node.module.startswith("connectors.")
                      else node.module)
            if node.module == "connectors" or node.module.startswith("connectors."):
                found.add("connectors")
    return found


def test_the_core_imports_no_vendor_no_flow_and_no_prefect():
    for path in (ROOT / "offering_sync").rglob("*.py"):
        if path.name in COMPOSERS:
            continue
        bad = imports(path) & {"connectors", "flows", "prefect", "emulators"}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_emulators_never_import_connectors():
    for path in (ROOT / "emulators").rglob("*.py"):
        assert "connectors" not in imports(path), path.name


def test_no_connector_imports_another():
    systems = {"digitalchalk", "salesforce", "rhythm", "smarterproctoring"}
    for path in (ROOT / "connectors").glob("*.py"):
        if path.stem not in systems:
            continue
        others = {f"connectors.{s}" for s in systems - {path.stem}}
        assert not imports(path) & others, path.name


def test_public_surface_matches_all():
    public = sorted(n for n in dir(offering_sync) if not n.startswith("_")
                    and not isinstance(getattr(offering_sync, n), type(offering_sync)))
    assert sorted(offering_sync.__all__) == public
