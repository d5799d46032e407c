"""Wiring: turn system names and settings into a ready ``Pipeline``.

This module and ``cli.py`` are the core's two composers: the only core modules that import
``connectors``. Everything else in ``offering_sync`` stays vendor-free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

import connectors
from offering_sync.engine import Pipeline
from offering_sync.errors import ConfigError, MappingError
from offering_sync.mapping import CompiledMapping, MappingContext, compile_mapping, load_mapping
from offering_sync.mapping.loader import LoadedMapping
from offering_sync.model import OFFERING_FIELDS
from offering_sync.records import Source, Target
from offering_sync.settings import CoreSettings

__all__ = ["build_pipeline", "build_reconcile", "check_mappings", "load_crosswalks",
           "mapping_file"]


def mapping_file(settings: CoreSettings, side_from: str, side_to: str) -> Path:
    """``<from>_to_<to>.yaml`` in the mappings folder."""
    return settings.mappings_dir / f"{side_from}_to_{side_to}.yaml"


def load_crosswalks(path: Path) -> dict[str, dict[str, Any]]:
    """Crosswalk tables from YAML (an absent file means no tables)."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise MappingError(f"not valid YAML: {exc}", file=str(path)) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MappingError("crosswalks are tables: {table: {value: id}}", file=str(path))
    return data


def _load(settings: CoreSettings, side_from: str, side_to: str) -> LoadedMapping:
    path = mapping_file(settings, side_from, side_to)
    if not path.exists():
        raise ConfigError(f"no mapping {path.name} in {settings.mappings_dir}: {side_from} → "
                          f"{side_to} is not supported")
    if side_to == "canonical":
        info = connectors.system(side_from)
        return load_mapping(path, known_sources=info.record_fields, known_targets=OFFERING_FIELDS)
    info = connectors.system(side_to)
    return load_mapping(path, known_sources=OFFERING_FIELDS, known_targets=info.payload_fields)


def _compiled(settings: CoreSettings, source: str, target: str,
              ) -> tuple[CompiledMapping, CompiledMapping]:
    crosswalks = load_crosswalks(settings.crosswalks_path())
    to_canonical = compile_mapping(_load(settings, source, "canonical"),
                                   MappingContext(crosswalks=crosswalks))
    context = MappingContext(settings=connectors.system(target).mapping_settings(),
                             crosswalks=crosswalks)
    to_target = compile_mapping(_load(settings, "canonical", target), context)
    return to_canonical, to_target


def build_pipeline(source: str, target: str, settings: CoreSettings | None = None, *,
                   source_connector: Source | None = None,
                   target_connector: Target | None = None) -> Pipeline:
    """Validate names and mappings first, then build the connectors from the environment."""
    settings = settings or CoreSettings()
    connectors.system(source), connectors.system(target)  # unknown names fail first, clearly
    if source == target:
        raise ConfigError("source and target are the same system")
    to_canonical, to_target = _compiled(settings, source, target)
    src = source_connector or connectors.build_source(source)
    dst = target_connector or connectors.build_target(target)
    return Pipeline(src, dst, to_canonical, to_target)


def build_reconcile(source: str, target: str, settings: CoreSettings | None = None, *,
                    target_reader: Source | None = None,
                    **connectors_given: Any) -> tuple[Pipeline, CompiledMapping, Source]:
    """The pipeline, plus the target read back as a source, for ``reconcile``."""
    settings = settings or CoreSettings()
    pipeline = build_pipeline(source, target, settings, **connectors_given)
    back = compile_mapping(_load(settings, target, "canonical"),
                           MappingContext(crosswalks=load_crosswalks(settings.crosswalks_path())))
    return pipeline, back, target_reader or connectors.build_source(target)


def check_mappings(settings: CoreSettings) -> list[tuple[Path, str | None]]:
    """Validate and compile every mapping file; ``(file, error or None)`` for each."""
    crosswalks = load_crosswalks(settings.crosswalks_path())
    results: list[tuple[Path, str | None]] = []
    for path in sorted(settings.mappings_dir.glob("*_to_*.yaml")):
        side_from, _, side_to = path.stem.partition("_to_")
        try:
            loaded = _load(settings, side_from, side_to)
            system = side_to if side_from == "canonical" else side_from
            context = MappingContext(settings=connectors.system(system).mapping_settings(),
                                     crosswalks=crosswalks)
            compile_mapping(loaded, context)
        except (MappingError, ConfigError) as exc:
            results.append((path, str(exc)))
        else:
            results.append((path, None))
    return results
