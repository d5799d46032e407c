"""Read a mapping file, validate it fully, and point every error at its file, line and field.

Validation covers the YAML syntax, the spec's shape, each transform's name and arguments,
every path's syntax, and (when the field lists are known) every target and source field.
Mapping files are small data: a file over ``MAX_FILE_BYTES`` or one whose aliases expand past
``MAX_NODES`` values (a "billion laughs" bomb) is refused before anything is built from it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from offering_sync.errors import MappingError
from offering_sync.mapping.paths import PathError, compile_setter, parse_path
from offering_sync.mapping.spec import FieldRule, MappingSpec
from offering_sync.mapping.transforms import build_transform

__all__ = ["MAX_FILE_BYTES", "MAX_NODES", "LoadedMapping", "load_mapping", "load_mapping_text",
           "safe_yaml"]

MAX_FILE_BYTES = 1_000_000
MAX_NODES = 100_000


class LoadedMapping:
    """A validated spec plus where it came from (for error messages at run time)."""

    __slots__ = ("file", "lines", "spec", "warnings")

    def __init__(self, spec: MappingSpec, file: str, lines: dict[str, int],
                 warnings: list[str] | None = None) -> None:
        self.spec, self.file, self.lines = spec, file, lines
        self.warnings = warnings or []
        """Problems worth saying that do not stop the mapping (e.g. undocumented fields)."""


def load_mapping(path: Path, *, known_sources: Collection[str] | None = None,
                 known_targets: Collection[str] | None = None,
                 open_sources: bool = False) -> LoadedMapping:
    """Load and validate one mapping file."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise MappingError(f"is larger than {MAX_FILE_BYTES:,} bytes; mapping files are "
                               "small", file=str(path))
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(f"cannot read: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError:
        raise MappingError("is not UTF-8 text", file=str(path)) from None
    return load_mapping_text(text, file=str(path), known_sources=known_sources,
                             known_targets=known_targets, open_sources=open_sources)


def _parse(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """YAML text → (node tree for line numbers, data), refusing oversized or bomb-like input."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise MappingError(f"is larger than {MAX_FILE_BYTES:,} bytes; mapping files are small",
                           file=file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and _expanded_size(root, {}) > MAX_NODES:
            raise MappingError(f"expands to more than {MAX_NODES:,} values through YAML "
                               "aliases; refusing it", file=file)
        data = yaml.SafeLoader("").construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.context_mark or exc.problem_mark  # where the broken construct began
        line = mark.line + 1 if mark else None
        raise MappingError(f"not valid YAML: {exc.problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise MappingError(f"not valid YAML: {exc}", file=file) from None
    return root, data


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (shared, so cheap)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = MAX_NODES + 1  # a cycle counts as too big
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = min(size, MAX_NODES + 1)
    return memo[id(node)]


def safe_yaml(text: str, *, file: str) -> Any:
    """Parse small YAML data (crosswalks, mappings) with the same limits as a mapping file."""
    return _parse(text, file)[1]


def load_mapping_text(text: str, *, file: str = "<mapping>",
                      known_sources: Collection[str] | None = None,
                      known_targets: Collection[str] | None = None,
                      open_sources: bool = False) -> LoadedMapping:
    """Validate mapping YAML given as text; ``known_*`` are the field names each side allows.

    With ``open_sources`` a source field outside ``known_sources`` is a warning, not an error:
    vendors add fields and customers add custom ones.
    """
    root, data = _parse(text, file)
    if not isinstance(data, dict):
        raise MappingError("a mapping file is a YAML object", file=file, line=1)
    try:
        spec = MappingSpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        loc = tuple(err["loc"])
        field = _field_of(loc)
        raise MappingError(_describe(err), file=file, line=_line_of(root, loc),
                           field=field) from None
    lines = {name: _line_of(root, ("fields", name)) or 0 for name in spec.fields}
    warnings: list[str] = []
    for name, rule in spec.fields.items():
        _check_rule(rule, name, ("fields", name), root, file, known_sources, known_targets,
                    warnings if open_sources else None)
    return LoadedMapping(spec, file, lines, warnings)


def _check_rule(rule: FieldRule, name: str, loc: tuple[Any, ...], root: yaml.Node | None,
                file: str, known_sources: Collection[str] | None,
                known_targets: Collection[str] | None,
                warnings: list[str] | None = None) -> None:
    def fail(message: str, *sub: Any) -> MappingError:
        return MappingError(message, file=file, line=_line_of(root, loc + sub), field=name)

    try:
        compile_setter(name)
    except PathError as exc:
        raise fail(str(exc)) from None
    if known_targets is not None and _top(name) not in known_targets and name not in known_targets:
        raise fail(f"unknown target field; known: {', '.join(sorted(known_targets))}")
    for key, path in _source_paths(rule):
        try:
            steps = parse_path(path)
        except PathError as exc:
            raise fail(str(exc), key) from None
        head = str(steps[0])
        if known_sources is not None and head not in known_sources:
            if warnings is None:
                raise fail(f"unknown source field {head!r}", key)
            warnings.append(f"{file}:{_line_of(root, loc + (key,))}: field {name!r}: source "
                            f"field {head!r} is not in the vendor's documented schema; it is "
                            "read if present")
    for index, transform in enumerate(rule.transforms):
        try:
            build_transform(transform, None)
        except (KeyError, TypeError) as exc:
            message = exc.args[0] if exc.args else str(exc)
            raise fail(str(message), "transforms", index) from None
    for index, choice in enumerate(rule.first_of or ()):
        _check_rule(choice, name, loc + ("first_of", index), root, file, known_sources, None,
                    warnings)
    if rule.each is not None:
        for sub_name, sub_rule in rule.each.items():
            _check_rule(sub_rule, f"{name}.{sub_name}", loc + ("each", sub_name), root, file,
                        None, None)


def _source_paths(rule: FieldRule) -> Sequence[tuple[str, str]]:
    paths: list[tuple[str, str]] = []
    if rule.from_ is not None:
        paths.append(("from", rule.from_))
    for path in rule.coalesce or ():
        paths.append(("coalesce", path))
    if rule.template is not None:
        from offering_sync.mapping.compiler import template_fields

        try:
            paths.extend(("template", p) for p in template_fields(rule.template))
        except ValueError as exc:
            raise MappingError(str(exc)) from None
    return paths


def _top(name: str) -> str:
    return name.split(".", 1)[0].split("[", 1)[0]


def _field_of(loc: tuple[Any, ...]) -> str | None:
    if len(loc) >= 2 and loc[0] == "fields":
        return str(loc[1])
    return None


def _describe(err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    where = ".".join(p for p in loc[2:] if p not in {"FieldRule"}) if loc[:1] == ["fields"] \
        else ".".join(loc)
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r}"
        where = ""
    return f"{where}: {msg}" if where else msg


def _line_of(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (keys or list indexes)."""
    node, line = root, (root.start_mark.line + 1) if root is not None else None
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            key = "from" if step == "from_" else step
            match = next((pair for pair in node.value if pair[0].value == str(key)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) \
                and step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line
