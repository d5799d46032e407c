"""Connectors, one module per system, each declaring its ``SYSTEM`` (a ``SystemSpec``).

The systems are listed as entry points in pyproject.toml (group ``offering_sync.systems``), not
here: ``offering_sync.app.registry`` reads them, so a package outside this repo adds a system
the same way. ``MAPPINGS_DIR`` is where the bundled systems keep their mapping files.
"""

from pathlib import Path

__all__ = ["MAPPINGS_DIR"]

MAPPINGS_DIR = Path(__file__).parent.parent / "mappings"
