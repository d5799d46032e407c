"""Compile a validated mapping into one plain function ``record -> dict``, once per run.

The function is generated as straight-line Python (get → transforms → missing policy → set, per
field), so applying a mapping costs about what a hand-written function does. Nothing from the
mapping file is ever rendered into that source: names, paths, constants and transforms reach it
only as references into a table. Errors raised while applying name the output field and the value
that failed; the engine adds the record's key.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from offering_sync.errors import InvalidRecord, MappingError
from offering_sync.mapping.loader import LoadedMapping
from offering_sync.mapping.lookups import LookupResolver
from offering_sync.mapping.paths import MISSING, Getter, compile_getter
from offering_sync.mapping.spec import FieldRule
from offering_sync.mapping.transforms import (
    Transform,
    TransformError,
    build_transform,
    inline_kind,
    is_empty,
)

__all__ = ["CompiledMapping", "MappingContext", "compile_mapping", "template_fields"]

_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class MappingContext:
    """Values a mapping may read besides the record: settings, crosswalk tables, lookups."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    crosswalks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lookups: Mapping[str, LookupResolver] | None = None
    """Resolvers by system slug for the ``lookup`` transform; ``None`` compiles lookups that
    refuse every value (validation only, e.g. ``mappings check``)."""


class CompiledMapping:
    """A mapping turned into a function; call it with one record."""

    __slots__ = ("_apply", "_notes_defaults", "digest", "fields", "file", "ownership", "source",
                 "target")

    def __init__(self, apply: Callable[..., dict[str, Any]], source: str, target: str,
                 file: str, fields: tuple[str, ...] = (),
                 ownership: Mapping[str, str] | None = None, digest: str = "", *,
                 notes_defaults: bool = False) -> None:
        self._apply, self.source, self.target, self.file = apply, source, target, file
        self._notes_defaults = notes_defaults
        """``apply`` takes a second argument: a list it appends defaulted field names to."""
        self.digest = digest
        """Changes whenever the mapping, its settings or its crosswalks change."""
        self.fields = fields
        """The output fields this mapping can set (top-level names)."""
        self.ownership: dict[str, str] = dict(ownership or {})
        """Output path → what an update does to it (``overwrite``, ``keep``, ``merge``)."""

    def __call__(self, record: Any) -> dict[str, Any]:
        """Map one record; raises ``InvalidRecord`` naming the output field."""
        return self._apply(record)

    def with_defaults(self, record: Any) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Map one record, and name the output fields that hold the rule's ``default``.

        Those had no value in the record, so an update can leave the target's own value alone.
        """
        if not self._notes_defaults:
            return self._apply(record), ()
        defaulted: list[str] = []
        return self._apply(record, defaulted), tuple(defaulted)


def compile_mapping(loaded: LoadedMapping, context: MappingContext | None = None,
                    ) -> CompiledMapping:
    """Build the function for ``loaded``; settings and crosswalks are resolved now, not per record."""
    ctx = context or MappingContext()
    try:
        apply = _compile_fields(loaded.spec.fields, ctx)
    except MappingError as exc:
        raise MappingError(str(exc), file=loaded.file) from None
    return CompiledMapping(apply, loaded.spec.from_, loaded.spec.to, loaded.file,
                           tuple(name.split(".")[0] for name in loaded.spec.fields),
                           {name: rule.on_update for name, rule in loaded.spec.fields.items()},
                           _digest(loaded, ctx), notes_defaults=True)


def _digest(loaded: LoadedMapping, ctx: MappingContext) -> str:
    text = json.dumps([loaded.spec.model_dump(mode="json", by_alias=True), dict(ctx.settings),
                       {k: dict(v) for k, v in ctx.crosswalks.items()}],
                      sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def template_fields(template: str) -> list[str]:
    """The paths named by ``{...}`` placeholders; ``{{``/``}}`` are literal braces."""
    names = template_parts(template)[1]
    if any(not n.strip() for n in names):
        raise ValueError(f"empty placeholder in template {template!r}")
    return names


def template_parts(template: str) -> tuple[list[str], list[str]]:
    """The literal pieces around the placeholders, and the placeholders' paths.

    Read left to right as ``str.format`` reads: ``{{`` and ``}}`` are literal braces, ``{path}``
    a placeholder, so ``{{{a}}}`` is a brace, ``a`` and a brace (replacing the doubled braces
    first, as before, cut the closing ones in two).
    """
    literals: list[str] = []
    names: list[str] = []
    current: list[str] = []
    at = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        current.append(template[at:match.start()])
        at = match.end()
        if match.group(1) is None:  # a doubled brace
            current.append(match.group(0)[0])
            continue
        literals.append("".join(current))
        current = []
        names.append(match.group(1))
    current.append(template[at:])
    literals.append("".join(current))
    return literals, names


class _Source:
    """Python source for one mapping, built line by line.

    Every name, path, constant and transform of the mapping file is passed to the generated
    function by reference (``C[i]``), so no text from the file ever becomes code: the source
    holds only this module's own identifiers and integer indexes.
    """

    def __init__(self) -> None:
        self.lines = ["    if type(r) is not dict:", "        r = todict(r)", "    out = {}"]
        self.consts: list[Any] = []

    def ref(self, value: Any) -> str:
        """A local name (``_7``) bound to ``value`` as a default argument: fast to read."""
        self.consts.append(value)
        return f"_{len(self.consts) - 1}"

    def emit(self, depth: int, line: str) -> None:
        self.lines.extend("    " * depth + part for part in line.split("\n"))

    def build(self) -> Callable[[Any], dict[str, Any]]:
        self.emit(1, "return out")
        params = "".join(f", _{i}=C[{i}]" for i in range(len(self.consts)))
        head = ("def apply(r, dl=None, M=M, TE=TE, IR=IR, fresh=fresh, todict=todict, empty=empty, "
                f"FI=FI, UTC=UTC, DT=DT, D=D, fin=fin{params}):")
        namespace: dict[str, Any] = {"C": self.consts, "M": MISSING, "TE": TransformError,
                                     "IR": InvalidRecord, "fresh": _fresh, "todict": _todict,
                                     "empty": is_empty, "FI": datetime.fromisoformat,
                                     "UTC": UTC, "DT": datetime, "D": Decimal,
                                     "fin": math.isfinite}
        exec(compile("\n".join([head, *self.lines]), "<mapping>", "exec"),  # noqa: S102
             namespace)
        return namespace["apply"]  # type: ignore[no-any-return]


def _todict(record: Any) -> dict[str, Any]:
    """Models (the canonical side) are read through their fields; anything else has none.

    The generated function only reads ``r``, so the model's own field dict is used, not a copy.
    """
    return record.__dict__ if isinstance(record, BaseModel) else {}


def _fresh(value: Any) -> Any:
    return type(value)(value) if isinstance(value, list | dict) else value


def _compile_fields(rules: Mapping[str, FieldRule], ctx: MappingContext,
                    ) -> Callable[[Any], dict[str, Any]]:
    src = _Source()
    for name, rule in rules.items():
        _emit_rule(src, name, rule, ctx)
    return src.build()


# The fast paths written out for the common transforms (``inline_kind``). ``{k}`` is the
# registry's own function and ``{d}`` its data, both passed by reference: every value a fast path
# is not sure of goes to ``{k}``, so the result, or the error, is exactly the registry's.
_INLINE: dict[str, str] = {
    "strip": "v = v.strip() if type(v) is str else {k}(v)",
    "lower": "v = v.lower() if type(v) is str else {k}(v)",
    "upper": "v = v.upper() if type(v) is str else {k}(v)",
    "str": "if type(v) is not str:\n    v = str(v) if type(v) is int else {k}(v)",
    "int": "if type(v) is not int:\n    v = {k}(v)",
    "decimal": "v = D(repr(v)) if type(v) is float and fin(v) else D(v) if type(v) is int "
               "else {k}(v)",
    "utc_datetime": "if type(v) is str and v.endswith('Z') and v[-2:-1].isdigit():\n"
                    "    try:\n        v = FI(v)\n    except ValueError:\n        v = {k}(v)\n"
                    "else:\n    v = {k}(v)",
    "none_if_empty": "if not v or (type(v) is not dict and type(v) is not list "
                     "and type(v) is not str):\n    v = {k}(v)",
    "format_datetime:year": "v = '%04d' % v.year if type(v) is DT and v.tzinfo is UTC "
                            "else {k}(v)",
    "format_datetime:date": "v = v.date().isoformat() if type(v) is DT and v.tzinfo is UTC "
                            "else {k}(v)",
    "format_datetime:iso_z": "if type(v) is DT and v.tzinfo is UTC and v.year >= 1000:\n"
                             "    v = '%04d-%02d-%02dT%02d:%02d:%02dZ' % (v.year, v.month, "
                             "v.day, v.hour, v.minute, v.second)\nelse:\n    v = {k}(v)",
    "format_datetime:iso_z_millis": "if type(v) is DT and v.tzinfo is UTC and v.year >= 1000:\n"
                                    "    v = '%04d-%02d-%02dT%02d:%02d:%02d.%03dZ' % (v.year, "
                                    "v.month, v.day, v.hour, v.minute, v.second, "
                                    "v.microsecond // 1000)\nelse:\n    v = {k}(v)",
    "crosswalk": "w = {d}.get(v) if type(v) is str else None\n"
                 "v = w if w is not None else {k}(v)",
    "enum": "w = {d}.get(v.lower(), M) if type(v) is str else M\n"
            "v = w if w is not M else {k}(v)",
    "enum:case_sensitive": "w = {d}.get(v, M) if type(v) is str else M\n"
                           "v = w if w is not M else {k}(v)",
    "max_length": "if type(v) is not str or len(v) > {d}:\n    v = {k}(v)",
}


def _emit_transform(src: _Source, depth: int, spec: Any, transform: Transform,
                    ctx: MappingContext) -> None:
    """``v = transform(v)``, written out as its fast path where there is one."""
    kind = inline_kind(spec, ctx.crosswalks)
    if kind is None:
        src.emit(depth, f"v = {src.ref(transform)}(v)")
        return
    name, data = kind
    template = _INLINE.get(name)
    if template is None:
        src.emit(depth, f"v = {src.ref(transform)}(v)")
        return
    code = template.replace("{k}", src.ref(transform))
    if "{d}" in code:
        code = code.replace("{d}", src.ref(data))
    src.emit(depth, code)


def _emit_rule(src: _Source, name: str, rule: FieldRule, ctx: MappingContext) -> None:
    try:
        transforms = [build_transform(t, ctx.crosswalks, ctx.lookups) for t in rule.transforms]
    except (KeyError, TypeError) as exc:
        raise MappingError(str(exc.args[0] if exc.args else exc), field=name) from None
    if not _emit_inline_source(src, rule, ctx):
        src.emit(1, f"v = {src.ref(_compile_source(name, rule, ctx))}(r)")
    store = _store(src, name)
    src.emit(1, "if v is M or v is None:")
    _emit_missing(src, 2, name, rule, store)
    src.emit(1, "else:")
    depth = 2
    if transforms:
        src.emit(2, "try:")
        for index, (spec, transform) in enumerate(zip(rule.transforms, transforms,
                                                      strict=True)):
            if index:
                src.emit(2 + index, "if v is not None:")
            _emit_transform(src, 3 + index, spec, transform, ctx)
        src.emit(2, "except TE as e:")
        src.emit(3, f"raise IR(str(e), field={src.ref(name)}, value=v) from None")
        src.emit(2, "if v is None:")
        _emit_missing(src, 3, name, rule, store)
        src.emit(2, "else:")
        depth = 3
    src.emit(depth, store)


def _is_key(path: str | None) -> bool:
    return bool(path) and "." not in str(path) and "[" not in str(path)


_KEY_INDEX = re.compile(r"^([^.\[\]]+)\[(\d+)\]$")


def _emit_inline_source(src: _Source, rule: FieldRule, ctx: MappingContext) -> bool:
    """Straight-line reads for the common shapes of a rule's source.

    A key, ``key[*]``, ``key[0]``, a constant, a setting, a template or a coalesce of keys;
    anything else goes through a compiled getter (``_compile_source``).
    """
    if rule.each is not None:
        return False
    if _is_key(rule.from_):
        src.emit(1, f"v = r.get({src.ref(rule.from_)}, M)")
        return True
    if rule.from_ is None and "const" in rule.model_fields_set:
        src.emit(1, f"v = {src.ref(rule.const)}")
        return True
    if rule.setting is not None and rule.setting in ctx.settings:
        src.emit(1, f"v = {src.ref(ctx.settings[rule.setting])}")
        return True
    keyed = _KEY_INDEX.match(rule.from_ or "")
    if keyed and not keyed.group(1).startswith("_"):
        src.emit(1, f"v = r.get({src.ref(keyed.group(1))}, M)")
        position = src.ref(int(keyed.group(2)))
        src.emit(1, f"v = v[{position}] if isinstance(v, list | tuple) and len(v) > {position} "
                    "else M")
        return True
    if rule.from_ and rule.from_.endswith("[*]") and _is_key(rule.from_[:-3]):
        src.emit(1, f"v = r.get({src.ref(rule.from_[:-3])}, M)")
        src.emit(1, "v = list(v) if type(v) is list or type(v) is tuple else M")
        return True
    if rule.coalesce and all(_is_key(p) for p in rule.coalesce):
        src.emit(1, "v = M")
        for path in rule.coalesce:
            src.emit(1, "if v is M or not v and empty(v):")  # what is empty is falsy
            src.emit(2, f"v = r.get({src.ref(path)}, M)")
        src.emit(1, "if v is not M and not v and empty(v):")
        src.emit(2, "v = M")
        return True
    if rule.template is not None:
        names = template_fields(rule.template)
        if not all(_is_key(n.strip()) for n in names):
            return False
        literals = template_parts(rule.template)[0]
        parts = [src.ref(literals[0])]
        for index, key in enumerate(names):
            src.emit(1, f"t{index} = r.get({src.ref(key.strip())})")
            parts += [f"str(t{index})", src.ref(literals[index + 1])]
        present = " and ".join(f"t{i} is not None" for i in range(len(names))) or "True"
        src.emit(1, f"v = {' + '.join(parts)} if {present} else M")
        return True
    return False


def _store(src: _Source, name: str) -> str:
    """Code that puts ``v`` at ``name``, creating nested objects inline."""
    if "." not in name:
        return f"out[{src.ref(name)}] = v"
    keys = name.split(".")
    code, node = [], "out"
    for depth, key in enumerate(keys[:-1]):
        ref = src.ref(key)
        child = f"n{depth}"
        code.append(f"{child} = {node}.get({ref})")
        code.append(f"if type({child}) is not dict: {child} = {node}[{ref}] = {{}}")
        node = child
    code.append(f"{node}[{src.ref(keys[-1])}] = v")
    return "\n".join(code)


def _emit_missing(src: _Source, depth: int, name: str, rule: FieldRule, store: str) -> None:
    """What an absent or null value becomes: omitted, null, the default, or an error."""
    if rule.has_default and rule.missing in ("omit", "default"):
        default = rule.default
        if type(default) is list or type(default) is dict:  # a copy per record, as fresh makes
            src.emit(depth, f"v = {type(default).__name__}({src.ref(default)})")
        else:
            src.emit(depth, f"v = fresh({src.ref(default)})")
        src.emit(depth, store)
        src.emit(depth, "if dl is not None:")  # the caller asked which fields were defaulted
        src.emit(depth + 1, f"dl.append({src.ref(name)})")
    elif rule.missing == "null":
        src.emit(depth, "v = None")
        src.emit(depth, store)
    elif rule.missing == "error":
        src.emit(depth, f"raise IR('is required but has no value', field={src.ref(name)})")
    else:
        src.emit(depth, "pass")


def _compile_source(name: str, rule: FieldRule, ctx: MappingContext) -> Getter:
    if rule.each is not None:
        return _compile_each(name, rule, ctx)
    if rule.first_of is not None:
        return _compile_first_of(name, rule.first_of, ctx)
    if rule.from_ is not None:
        return compile_getter(rule.from_)
    if "const" in rule.model_fields_set:
        const = rule.const
        return lambda _record: const
    if rule.template is not None:
        return _compile_template(rule.template)
    if rule.coalesce is not None:
        return _compile_coalesce(rule.coalesce)
    key = rule.setting or ""
    if key not in ctx.settings:
        raise MappingError(f"no setting {key!r} was given to this mapping", field=name)
    value = ctx.settings[key]
    return lambda _record: value


def _compile_each(name: str, rule: FieldRule, ctx: MappingContext) -> Getter:
    items = compile_getter(rule.from_ or "")
    apply_item = _compile_fields(rule.each or {}, ctx)

    def each(record: Any) -> Any:
        values = items(record)
        if values is MISSING or values is None:
            return MISSING
        if not isinstance(values, list | tuple):
            raise InvalidRecord("expected a list", field=name, value=values)
        return [apply_item(item) for item in values]

    return each


def _compile_first_of(name: str, rules: list[FieldRule], ctx: MappingContext) -> Getter:
    """Each choice is a full rule (source, transforms, missing); the first value wins."""
    choices = [_compile_fields({name: rule}, ctx) for rule in rules]
    top = name.split(".")[0]
    path = name.split(".")

    def first_of(record: Any) -> Any:
        for choice in choices:
            value: Any = choice(record).get(top, MISSING)
            for key in path[1:]:
                value = value.get(key, MISSING) if isinstance(value, dict) else MISSING
            if value is not MISSING and value is not None:
                return value
        return MISSING

    return first_of


def _compile_template(template: str) -> Getter:
    names = template_fields(template)
    getters = [compile_getter(n.strip()) for n in names]
    literals = template_parts(template)[0]

    def render(record: Any) -> Any:
        out = [literals[0]]
        for getter, literal in zip(getters, literals[1:], strict=True):
            value = getter(record)
            if value is MISSING or value is None:
                return MISSING
            out.append(str(value))
            out.append(literal)
        return "".join(out)

    return render


def _compile_coalesce(paths: list[str]) -> Getter:
    getters = [compile_getter(p) for p in paths]

    def coalesce(record: Any) -> Any:
        for getter in getters:
            value = getter(record)
            if value is not MISSING and not is_empty(value):
                return value
        return MISSING

    return coalesce
