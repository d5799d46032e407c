"""Dotted paths (``a.b``, ``a[0]``, ``a[*].b``) parsed once into fast getters and setters.

A getter returns ``MISSING`` when any step is absent, so "omitted by the vendor" and "null"
stay distinct. At most one ``[*]`` per path: it yields a list. Paths reach data, never Python
internals: a key may not start with ``_`` when read, and objects are read only through their
declared model fields, so a mapping file cannot walk from a record to ``__globals__``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel

__all__ = ["MISSING", "Getter", "PathError", "compile_getter", "compile_setter", "parse_path"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final[Any] = _Missing()
Getter = Callable[[Any], Any]
Step = str | int  # a key, an index, or -1 for "[*]"
_STAR: Final = "*"
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+|\*)\]|(\.)")


class PathError(ValueError):
    """A path string is not of the accepted form."""


def parse_path(path: str, *, reading: bool = True) -> list[str | int]:
    """Split a path into keys (str), indexes (int) and ``"*"`` wildcards.

    A path that is read (``reading``) may not name a key starting with ``_``: such names are
    Python internals (``__init__``, ``__globals__``) or private, never a vendor's data.
    """
    if not path or path.startswith(".") or path.endswith(".") or ".." in path:
        raise PathError(f"bad path {path!r}")
    steps: list[str | int] = []
    pos = 0
    for match in _TOKEN.finditer(path):
        if match.start() != pos:
            raise PathError(f"bad path {path!r} at character {pos}")
        pos = match.end()
        key, index, _dot = match.groups()
        if key is not None:
            if reading and key.startswith("_"):
                raise PathError(f"bad path {path!r}: {key!r} starts with '_'; paths read "
                                "record fields, never private or internal names")
            steps.append(key)
        elif index is not None:
            steps.append(_STAR if index == "*" else int(index))
    if pos != len(path):
        raise PathError(f"bad path {path!r} at character {pos}")
    if steps.count(_STAR) > 1:
        raise PathError(f"bad path {path!r}: at most one [*]")
    return steps


def _step(value: Any, step: str | int) -> Any:
    if isinstance(step, str):
        if isinstance(value, dict):
            return value.get(step, MISSING)
        if isinstance(value, BaseModel) and step in type(value).model_fields:
            return getattr(value, step)  # the canonical side passes pydantic models
        return MISSING
    if isinstance(value, list | tuple) and -len(value) <= step < len(value):
        return value[step]
    return MISSING


def _walk(value: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if value is MISSING or value is None:
            return MISSING
        value = _step(value, step)
    return value


def compile_getter(path: str) -> Getter:
    """Return ``f(record) -> value | MISSING`` for ``path``."""
    steps = parse_path(path)
    if _STAR not in steps:
        if len(steps) == 1 and isinstance(steps[0], str):
            key = steps[0]
            return lambda record: record.get(key, MISSING) if isinstance(record, dict) \
                else _step(record, key)
        fixed = tuple(steps)
        return lambda record: _walk(record, fixed)
    star = steps.index(_STAR)
    head, tail = tuple(steps[:star]), tuple(steps[star + 1:])
    if len(head) == 1 and not tail and isinstance(head[0], str):  # "key[*]": the common case
        key = head[0]

        def get_all(record: Any) -> Any:
            items = record.get(key, MISSING) if isinstance(record, dict) else _step(record, key)
            return list(items) if isinstance(items, list | tuple) else MISSING

        return get_all

    def get_each(record: Any) -> Any:
        items = _walk(record, head)
        if items is MISSING or items is None:
            return MISSING
        if not isinstance(items, list | tuple):
            return MISSING
        out = [_walk(item, tail) for item in items]
        return [v for v in out if v is not MISSING]

    return get_each


def compile_setter(path: str) -> Callable[[dict[str, Any], Any], None]:
    """Return ``f(target, value)`` that writes into nested dicts, creating them as needed."""
    steps = parse_path(path, reading=False)
    if not all(isinstance(s, str) and s != _STAR for s in steps):
        raise PathError(f"target path {path!r} may only use keys, not indexes")
    keys = tuple(str(s) for s in steps)
    if len(keys) == 1:
        only = keys[0]

        def set_top(target: dict[str, Any], value: Any) -> None:
            target[only] = value

        return set_top
    parents, last = keys[:-1], keys[-1]

    def set_nested(target: dict[str, Any], value: Any) -> None:
        node = target
        for key in parents:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[last] = value

    return set_nested
