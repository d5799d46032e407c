"""Wiring: turn system names and settings into a ready ``Pipeline``.

Part of the composition root: it reads the installed systems from the registry, finds their
mapping files (a user's ``OFFERING_SYNC_MAPPINGS_DIR`` overlays the systems' own, file by file)
and compiles them, and builds the connectors. The core below knows no system.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offering_sync.app.registry import all_systems, build_source, build_target, system
from offering_sync.engine import Pipeline
from offering_sync.errors import ConfigError, MappingError
from offering_sync.mapping import (
    CompiledMapping,
    LookupResolver,
    MappingContext,
    compile_mapping,
    load_mapping,
)
from offering_sync.mapping.loader import LoadedMapping, safe_yaml
from offering_sync.mapping.spec import FieldRule
from offering_sync.model import OFFERING_FIELDS
from offering_sync.records import Source, Target
from offering_sync.settings import CoreSettings

__all__ = ["MappingCheck", "MappingFile", "build_pipeline", "build_reconcile",
           "bundled_files", "check_mappings", "check_pipelines", "crosswalk_origins",
           "keep_tokens_in", "load_crosswalks", "mapping_file", "mapping_files",
           "target_lookups", "token_details"]

CROSSWALKS = "crosswalks.yaml"


@dataclass(frozen=True)
class MappingFile:
    """Which file serves one direction, and whether it is the user's or the system's own."""

    side_from: str
    side_to: str
    path: Path
    overlaid: bool

    @property
    def system(self) -> str:
        """The system this mapping reads from or writes to."""
        return self.side_to if self.side_from == "canonical" else self.side_from


def _name(side_from: str, side_to: str) -> str:
    return f"{side_from}_to_{side_to}.yaml"


def mapping_file(settings: CoreSettings, side_from: str, side_to: str) -> MappingFile | None:
    """The file for ``side_from → side_to``: the user's overlay if it has one, else the system's."""
    name = _name(side_from, side_to)
    if settings.mappings_dir is not None and (settings.mappings_dir / name).is_file():
        return MappingFile(side_from, side_to, settings.mappings_dir / name, True)
    own = system(side_to if side_from == "canonical" else side_from).mappings_dir
    if own is not None and (own / name).is_file():
        return MappingFile(side_from, side_to, own / name, False)
    return None


def mapping_files(settings: CoreSettings) -> list[MappingFile]:
    """Every direction an installed system (or the user's overlay) has a mapping for."""
    found = []
    for slug in all_systems():
        for pair in ((slug, "canonical"), ("canonical", slug)):
            chosen = mapping_file(settings, *pair)
            if chosen is not None:
                found.append(chosen)
    return found


def _overlay_exists(settings: CoreSettings) -> None:
    """A mappings folder that is not there is a typo, never "use the bundled files"."""
    if settings.mappings_dir is not None and not settings.mappings_dir.is_dir():
        raise ConfigError(f"mappings folder {settings.mappings_dir} does not exist "
                          "(OFFERING_SYNC_MAPPINGS_DIR)")


def bundled_files() -> dict[str, Path]:
    """Every mapping and crosswalk file the installed systems ship, by file name."""
    found: dict[str, Path] = {}
    for slug, spec in all_systems().items():
        if spec.mappings_dir is None:
            continue
        for name in (_name(slug, "canonical"), _name("canonical", slug), CROSSWALKS):
            if (spec.mappings_dir / name).is_file():
                found.setdefault(name, spec.mappings_dir / name)
    return found


def _crosswalk_files(settings: CoreSettings) -> Iterable[Path]:
    seen: set[Path] = set()
    for spec in all_systems().values():
        if spec.mappings_dir is not None and spec.mappings_dir.resolve() not in seen:
            seen.add(spec.mappings_dir.resolve())
            if (spec.mappings_dir / CROSSWALKS).is_file():
                yield spec.mappings_dir / CROSSWALKS
    if settings.mappings_dir is not None and (settings.mappings_dir / CROSSWALKS).is_file():
        yield settings.mappings_dir / CROSSWALKS
    if settings.crosswalks_file is not None:
        yield settings.crosswalks_file


def load_crosswalks(settings: CoreSettings) -> dict[str, dict[str, Any]]:
    """Crosswalk tables: the systems' own, then the overlay's, then the crosswalks file.

    A later file replaces an earlier one table by table, so a user file holding only
    ``salesforce_academic_sessions`` keeps every other bundled table.
    """
    tables: dict[str, dict[str, Any]] = {}
    for path in _crosswalk_files(settings):
        tables.update(_read_crosswalks(path))
    return tables


def crosswalk_origins(settings: CoreSettings) -> dict[str, Path]:
    """The file each crosswalk table comes from (the last one that defines it wins)."""
    return {table: path for path in _crosswalk_files(settings)
            for table in _read_crosswalks(path)}


def _read_crosswalks(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        raise ConfigError(f"crosswalks file {path} does not exist (OFFERING_SYNC_CROSSWALKS_FILE)")
    data = safe_yaml(path.read_text(encoding="utf-8"), file=str(path)) or {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MappingError("crosswalks are tables: {table: {value: id}}", file=str(path))
    return data


def _load(settings: CoreSettings, side_from: str, side_to: str) -> LoadedMapping:
    chosen = mapping_file(settings, side_from, side_to)
    if chosen is None:
        raise ConfigError(f"no mapping {_name(side_from, side_to)}: {side_from} → {side_to} is "
                          "not supported")
    if side_to == "canonical":
        info = system(side_from)
        return load_mapping(chosen.path, known_sources=info.record_fields,
                            known_targets=OFFERING_FIELDS, open_sources=True)
    info = system(side_to)
    return load_mapping(chosen.path, known_sources=OFFERING_FIELDS,
                        known_targets=info.payload_fields)


def _compiled(settings: CoreSettings, source: str, target: str, *,
              lookups: Mapping[str, LookupResolver] | None = None,
              ) -> tuple[CompiledMapping, CompiledMapping]:
    _overlay_exists(settings)
    crosswalks = load_crosswalks(settings)
    to_canonical = compile_mapping(_load(settings, source, "canonical"),
                                   MappingContext(crosswalks=crosswalks))
    context = MappingContext(settings=system(target).mapping_settings(), crosswalks=crosswalks,
                             lookups=lookups)
    to_target = compile_mapping(_load(settings, "canonical", target), context)
    return to_canonical, to_target


def target_lookups(target: str, connector: Target) -> dict[str, LookupResolver]:
    """The resolvers a target hands its mapping's ``lookup`` transforms: itself, if it can."""
    return {target: connector} if isinstance(connector, LookupResolver) else {}


def build_pipeline(source: str, target: str, settings: CoreSettings | None = None, *,
                   source_connector: Source | None = None,
                   target_connector: Target | None = None) -> Pipeline:
    """Validate names and mappings first, then build the connectors from the environment."""
    settings = settings or CoreSettings()
    system(source), system(target)  # unknown names fail first, clearly
    if source == target:
        raise ConfigError("source and target are the same system")
    _compiled(settings, source, target)  # every mapping error before any connector is built
    src = source_connector or build_source(source)
    dst = target_connector or build_target(target)
    # Lookups ask the target, so the target side is compiled once the target exists.
    to_canonical, to_target = _compiled(settings, source, target,
                                        lookups=target_lookups(target, dst))
    return Pipeline(src, dst, to_canonical, to_target)


def build_reconcile(source: str, target: str, settings: CoreSettings | None = None, *,
                    target_reader: Source | None = None,
                    **connectors_given: Any) -> tuple[Pipeline, CompiledMapping, Source]:
    """The pipeline, plus the target read back as a source, for ``reconcile``."""
    settings = settings or CoreSettings()
    pipeline = build_pipeline(source, target, settings, **connectors_given)
    back = compile_mapping(_load(settings, target, "canonical"),
                           MappingContext(crosswalks=load_crosswalks(settings)))
    return pipeline, back, target_reader or build_source(target)


@dataclass(frozen=True)
class MappingCheck:
    """One mapping file checked: which file serves, its error, its warnings, its tables."""

    file: MappingFile
    problem: str | None
    warnings: tuple[str, ...] = ()
    tables: tuple[str, ...] = ()
    """The crosswalk tables the file reads (only these must exist for its pipelines)."""


def _pipeline_files(settings: CoreSettings, pipelines: Iterable[tuple[str, str]],
                    ) -> list[MappingFile]:
    files: dict[tuple[str, str], MappingFile] = {}
    for source, target in pipelines:
        system(source), system(target)
        for pair in ((source, "canonical"), ("canonical", target)):
            chosen = mapping_file(settings, *pair)
            if chosen is None:
                raise ConfigError(f"no mapping {_name(*pair)}: {pair[0]} → {pair[1]} is not "
                                  "supported")
            files.setdefault(pair, chosen)
    return list(files.values())


def _tables(rules: Iterable[FieldRule]) -> Iterator[str]:
    for rule in rules:
        for transform in rule.transforms:
            if isinstance(transform, dict) and isinstance(transform.get("crosswalk"), dict):
                yield str(transform["crosswalk"].get("table"))
        yield from _tables(rule.first_of or ())
        yield from _tables((rule.each or {}).values())


def check_pipelines(settings: CoreSettings,
                    pipelines: Iterable[tuple[str, str]] | None = None) -> list[MappingCheck]:
    """Validate and compile the mapping files ``pipelines`` use (every file when None).

    Only the crosswalk tables those files read must exist: syncing into Salesforce never asks
    for a Rhythm table.
    """
    _overlay_exists(settings)
    crosswalks = load_crosswalks(settings)
    chosen_files = mapping_files(settings) if pipelines is None else \
        _pipeline_files(settings, pipelines)
    results: list[MappingCheck] = []
    for chosen in chosen_files:
        loaded: LoadedMapping | None = None
        try:
            loaded = _load(settings, chosen.side_from, chosen.side_to)
            context = MappingContext(settings=system(chosen.system).mapping_settings(),
                                     crosswalks=crosswalks)
            compile_mapping(loaded, context)
        except (MappingError, ConfigError) as exc:
            problem: str | None = str(exc)
        else:
            problem = None
        warnings = tuple(loaded.warnings) if loaded is not None else ()
        tables = tuple(dict.fromkeys(_tables(loaded.spec.fields.values()))) if loaded else ()
        results.append(MappingCheck(chosen, problem, warnings, tables))
    return results


def check_mappings(settings: CoreSettings) -> list[tuple[MappingFile, str | None]]:
    """Validate and compile every mapping file in use; ``(file, error or None)`` for each."""
    return [(c.file, c.problem) for c in check_pipelines(settings)]


def keep_tokens_in(store: Any) -> Any:
    """Make the state store the token cache of every connector built from now on.

    Tokens then outlive the run and the process (encrypted; see ``state/token_cache.py``).
    """
    from offering_sync.state.token_cache import StoreTokenCache
    from offering_sync.tokens import set_token_cache

    cache = StoreTokenCache(store)
    set_token_cache(cache)
    return cache


def token_details(store: Any, *systems: str) -> dict[str, Any]:
    """Tokens minted today per system, for the run summary (a monthly quota is at stake)."""
    from datetime import UTC, datetime

    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"tokens_minted_today": {s: store.mints_since(s, start) for s in systems}}
