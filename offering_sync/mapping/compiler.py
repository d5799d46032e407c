"""Compile a validated mapping into one plain function ``record -> dict``, once per run.

Each field becomes a small closure chain (get → transforms → missing policy → set), so applying
a mapping costs about what a hand-written function does. Errors raised while applying name the
output field and the value that failed; the engine adds the record's key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from offering_sync.errors import InvalidRecord, MappingError
from offering_sync.mapping.loader import LoadedMapping
from offering_sync.mapping.paths import MISSING, Getter, compile_getter, compile_setter
from offering_sync.mapping.spec import FieldRule
from offering_sync.mapping.transforms import (
    Transform,
    TransformError,
    build_transform,
    is_empty,
)

__all__ = ["CompiledMapping", "MappingContext", "compile_mapping", "template_fields"]

_OMIT: Final[Any] = object()
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
Producer = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class MappingContext:
    """Values a mapping may read besides the record: settings and crosswalk tables."""

    settings: Mapping[str, Any] = field(default_factory=dict)
    crosswalks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class CompiledMapping:
    """A mapping turned into a function; call it with one record."""

    __slots__ = ("_apply", "file", "source", "target")

    def __init__(self, apply: Callable[[Any], dict[str, Any]], source: str, target: str,
                 file: str) -> None:
        self._apply, self.source, self.target, self.file = apply, source, target, file

    def __call__(self, record: Any) -> dict[str, Any]:
        """Map one record; raises ``InvalidRecord`` naming the output field."""
        return self._apply(record)


def compile_mapping(loaded: LoadedMapping, context: MappingContext | None = None,
                    ) -> CompiledMapping:
    """Build the function for ``loaded``; settings and crosswalks are resolved now, not per record."""
    ctx = context or MappingContext()
    try:
        apply = _compile_fields(loaded.spec.fields, ctx)
    except MappingError as exc:
        raise MappingError(str(exc), file=loaded.file) from None
    return CompiledMapping(apply, loaded.spec.from_, loaded.spec.to, loaded.file)


def template_fields(template: str) -> list[str]:
    """The paths named by ``{...}`` placeholders; ``{{``/``}}`` are literal braces."""
    stripped = template.replace("{{", "").replace("}}", "")
    names = _PLACEHOLDER.findall(stripped)
    if any(not n.strip() for n in names):
        raise ValueError(f"empty placeholder in template {template!r}")
    return names


def _compile_fields(rules: Mapping[str, FieldRule], ctx: MappingContext,
                    ) -> Callable[[Any], dict[str, Any]]:
    steps = [(compile_setter(name), _compile_rule(name, rule, ctx)) for name, rule in rules.items()]

    def apply(record: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for setter, produce in steps:
            value = produce(record)
            if value is not _OMIT:
                setter(out, value)
        return out

    return apply


def _compile_rule(name: str, rule: FieldRule, ctx: MappingContext) -> Producer:
    get = _compile_source(name, rule, ctx)
    try:
        transforms = [build_transform(t, ctx.crosswalks) for t in rule.transforms]
    except (KeyError, TypeError) as exc:
        raise MappingError(str(exc.args[0] if exc.args else exc), field=name) from None
    on_missing = _missing_policy(name, rule)
    if not transforms:
        def produce_plain(record: Any) -> Any:
            value = get(record)
            if value is MISSING or value is None:
                return on_missing()
            return value
        return produce_plain
    chain = _chain(name, transforms)

    def produce(record: Any) -> Any:
        value = get(record)
        if value is MISSING or value is None:
            return on_missing()
        value = chain(value)
        if value is None:
            return on_missing()
        return value

    return produce


def _chain(name: str, transforms: list[Transform]) -> Transform:
    def run(value: Any) -> Any:
        for transform in transforms:
            try:
                value = transform(value)
            except TransformError as exc:
                raise InvalidRecord(str(exc), field=name, value=value) from None
            if value is None:
                return None
        return value
    return run


def _missing_policy(name: str, rule: FieldRule) -> Callable[[], Any]:
    if rule.has_default and rule.missing in ("omit", "default"):
        default = rule.default
        if isinstance(default, list | dict):
            return lambda: type(default)(default)
        return lambda: default
    if rule.missing == "null":
        return lambda: None
    if rule.missing == "error":
        def required() -> Any:
            raise InvalidRecord("is required but has no value", field=name)
        return required
    return lambda: _OMIT


def _compile_source(name: str, rule: FieldRule, ctx: MappingContext) -> Getter:
    if rule.each is not None:
        return _compile_each(name, rule, ctx)
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


def _compile_template(template: str) -> Getter:
    names = template_fields(template)
    getters = [compile_getter(n.strip()) for n in names]
    pieces = _PLACEHOLDER.split(template.replace("{{", "\0").replace("}}", "\1"))
    literals = [p.replace("\0", "{").replace("\1", "}") for p in pieces[0::2]]

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
