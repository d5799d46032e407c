"""The fixed registry of named, pure transforms a mapping file may use.

A mapping names a transform and gives it arguments; the registry validates the arguments when
the file is loaded and returns a plain function. Nothing here evaluates text as code. A transform
that cannot handle a value raises ``TransformError``; the compiler adds the record and field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["INLINE_KINDS", "REGISTRY", "Transform", "TransformError", "build_transform",
           "inline_kind", "is_empty"]

Transform = Callable[[Any], Any]
Crosswalks = Mapping[str, Mapping[str, Any]]
_Factory = Callable[[dict[str, Any], Crosswalks | None], Transform]


class TransformError(ValueError):
    """A value the transform cannot handle; the message says why."""


def _no_args(name: str, fn: Transform) -> _Factory:
    def factory(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
        if args:
            raise TypeError(f"transform {name!r} takes no arguments")
        return fn
    return factory


def _expect(args: dict[str, Any], allowed: dict[str, type | tuple[type, ...]],
            required: tuple[str, ...] = ()) -> None:
    for key in args:
        if key not in allowed:
            raise TypeError(f"unknown argument {key!r}; allowed: {sorted(allowed)}")
        if not isinstance(args[key], allowed[key]):
            raise TypeError(f"argument {key!r} has the wrong type")
    for key in required:
        if key not in args:
            raise TypeError(f"argument {key!r} is required")


# -- text ---------------------------------------------------------------------------------------

def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise TransformError(f"expected text, got {type(value).__name__}")


def _strip(value: Any) -> Any:
    return value.strip() if type(value) is str else _text(value).strip()


def is_empty(value: Any) -> bool:
    """None, "" and empty lists, tuples and objects count as "no value"."""
    return value is None or value == "" or (isinstance(value, list | tuple | dict) and not value)


def _none_if_empty(value: Any) -> Any:
    return None if is_empty(value) else value


def _to_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise TransformError(f"cannot make text of {type(value).__name__}")


# -- numbers ------------------------------------------------------------------------------------

def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TransformError("expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+\s*", value):
        return int(value)
    raise TransformError("expected a whole number")


def _to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise TransformError("expected a number, got a boolean")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TransformError("expected a finite number")
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise TransformError("expected a number") from None
        if not result.is_finite():
            raise TransformError("expected a finite number")
        return result
    raise TransformError("expected a number")


def _to_float(value: Any) -> float:
    return float(_to_decimal(value))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    if value in (0, 1) and isinstance(value, int):
        return bool(value)
    raise TransformError("expected true or false")


# -- dates and times ----------------------------------------------------------------------------

_OFFSET_NO_COLON = re.compile(r"([+-]\d\d)(\d\d)$")


def parse_instant(value: Any, assume: ZoneInfo | None = None) -> datetime:
    """Parse ISO 8601 with ``Z``, ``+00:00`` or Salesforce's ``+0000``; naive needs ``assume``."""
    if isinstance(value, datetime):
        parsed = value
    elif type(value) is str and value.endswith("Z") and value[-2:-1].isdigit():
        try:  # the common case, fast: 2011-02-01T00:02:12Z
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise TransformError("not an ISO 8601 date-time") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise TransformError("not an ISO 8601 date-time") from None
    else:
        raise TransformError("expected an ISO 8601 date-time")
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        if assume is None:
            raise TransformError("date-time has no timezone")
        parsed = parsed.replace(tzinfo=assume)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 has no UTC form
        raise TransformError("date-time falls outside the calendar once converted to UTC"
                             ) from None


def _zone_arg(args: dict[str, Any], key: str) -> ZoneInfo | None:
    name = args.get(key)
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TypeError(f"unknown timezone {name!r}") from None


def _utc_datetime(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"assume_tz": str})
    assume = _zone_arg(args, "assume_tz")
    if assume is None:
        return parse_instant
    return lambda value: parse_instant(value, assume)


_FORMATS: dict[str, Callable[[datetime], str]] = {
    "iso_z": lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "iso_z_millis": lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
    + f"{d.microsecond // 1000:03d}Z",
    "date": lambda d: d.astimezone(UTC).date().isoformat(),
    "year": lambda d: f"{d.astimezone(UTC).year:04d}",
}


def _format_datetime(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"format": str}, required=("format",))
    fmt = _FORMATS.get(args["format"])
    if fmt is None:
        raise TypeError(f"unknown format {args['format']!r}; known: {sorted(_FORMATS)}")

    def format_datetime(value: Any) -> str:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise TransformError("expected a timezone-aware date-time")
        return fmt(value)
    return format_datetime


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            raise TransformError("not an ISO 8601 date") from None
    raise TransformError("expected a date")


def _format_date(value: Any) -> str:
    return _to_date(value).isoformat()


def _to_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):
        text = value.strip().removesuffix("Z").removesuffix("z")
        try:
            return time.fromisoformat(text)
        except ValueError:
            raise TransformError("not a time of day (HH:MM:SS.mmm)") from None
    raise TransformError("expected a time of day")


def _format_time(value: Any) -> str:
    moment = _to_time(value)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


# -- choices and look-ups -----------------------------------------------------------------------

def _enum(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"map": dict, "default": (str, int, type(None)), "case_sensitive": bool},
            required=("map",))
    case = args.get("case_sensitive", False)
    table = {(str(k) if case else str(k).lower()): v for k, v in args["map"].items()}
    has_default = "default" in args
    default = args.get("default")

    def enum(value: Any) -> Any:
        lookup = str(value) if case else str(value).lower()
        if lookup in table:
            return table[lookup]
        if has_default:
            return default
        raise TransformError(f"unknown value; expected one of {sorted(table)}")
    return enum


def _crosswalk(args: dict[str, Any], crosswalks: Crosswalks | None) -> Transform:
    """Look a value up in a table.

    ``passthrough`` lets a value through unchanged only when it already is one of the table's
    ids (a value of the table): anything else would send the target an id it does not have.
    ``on_missing: skip`` makes no match "no value" instead of an error, so a ``first_of`` can
    fall back to its next choice.
    """
    _expect(args, {"table": str, "passthrough": bool, "on_missing": str}, required=("table",))
    name = args["table"]
    passthrough = args.get("passthrough", False)
    on_missing = args.get("on_missing", "error")
    if on_missing not in ("error", "skip"):
        raise TypeError("on_missing is error or skip")
    if crosswalks is None:  # validating only: the table is checked when compiled for a run
        return lambda value: value
    if name not in crosswalks:
        raise TypeError(f"no crosswalk table {name!r}; tables: {sorted(crosswalks)}")
    table = _crosswalk_table(crosswalks, name)
    fallback = table.get("*")
    known_ids = {str(v) for v in table.values()} if passthrough else set()

    def crosswalk(value: Any) -> Any:
        key = str(value)
        found = table.get(key)
        if found is None and key in known_ids:
            found = value
        if found is None:
            found = fallback
        if found is None:
            if on_missing == "skip":
                return None
            raise TransformError(f"no entry in crosswalk table {name!r}")
        return found
    return crosswalk


def _crosswalk_table(crosswalks: Crosswalks, name: str) -> dict[str, Any]:
    return {str(k): v for k, v in (crosswalks[name] or {}).items()}


# -- lists and pairs ----------------------------------------------------------------------------

def _split(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"sep": str})
    sep = args.get("sep", ",")

    def split(value: Any) -> list[str]:
        if isinstance(value, list | tuple):
            return [str(v).strip() for v in value if str(v).strip()]
        return [part.strip() for part in _text(value).split(sep) if part.strip()]
    return split


def _replace(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    """Replace text in a string, or in every string of a list (e.g. commas in match strings)."""
    _expect(args, {"old": str, "new": str}, required=("old", "new"))
    old, new = args["old"], args["new"]
    if not old:
        raise TypeError("argument 'old' must not be empty")

    def replace(value: Any) -> Any:
        if isinstance(value, list | tuple):
            return [_text(v).replace(old, new) for v in value]
        return _text(value).replace(old, new)
    return replace


def _join(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"sep": str})
    sep: str = args.get("sep", ",")

    def join(value: Any) -> str:
        if isinstance(value, str):
            return value
        if not isinstance(value, list | tuple):
            raise TransformError("expected a list")
        return sep.join(_to_str(v) for v in value)
    return join


def _to_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _first(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


def _pairs(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    """``{"a": 1}`` → ``[{"fieldName": "a", "fieldValue": 1}]`` (names given as arguments)."""
    _expect(args, {"key": str, "value": str})
    key, val = args.get("key", "fieldName"), args.get("value", "fieldValue")

    def to_pairs(value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, Mapping):
            raise TransformError("expected an object of name → value")
        return [{key: k, val: v} for k, v in value.items()]
    return to_pairs


def _from_pairs(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    """``[{"fieldName": "a", "fieldValue": 1}]`` → ``{"a": 1}``."""
    _expect(args, {"key": str, "value": str})
    key, val = args.get("key", "fieldName"), args.get("value", "fieldValue")

    def from_pairs(value: Any) -> dict[str, Any]:
        if not isinstance(value, list | tuple):
            raise TransformError("expected a list of name/value objects")
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, Mapping) or key not in item:
                raise TransformError(f"each item needs {key!r}")
            out[str(item[key])] = item.get(val)
        return out
    return from_pairs


def _max_length(args: dict[str, Any], _cw: Crosswalks | None) -> Transform:
    _expect(args, {"chars": int}, required=("chars",))
    limit = args["chars"]

    def max_length(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            raise TransformError(f"longer than {limit} characters ({len(value)})")
        return value
    return max_length


REGISTRY: dict[str, _Factory] = {
    "strip": _no_args("strip", _strip),
    "lower": _no_args("lower", lambda v: _text(v).lower()),
    "upper": _no_args("upper", lambda v: _text(v).upper()),
    "none_if_empty": _no_args("none_if_empty", _none_if_empty),
    "str": _no_args("str", _to_str),
    "int": _no_args("int", _to_int),
    "decimal": _no_args("decimal", _to_decimal),
    "float": _no_args("float", _to_float),
    "bool": _no_args("bool", _to_bool),
    "utc_datetime": _utc_datetime,
    "format_datetime": _format_datetime,
    "date": _no_args("date", _to_date),
    "format_date": _no_args("format_date", _format_date),
    "time": _no_args("time", _to_time),
    "format_time": _no_args("format_time", _format_time),
    "enum": _enum,
    "crosswalk": _crosswalk,
    "split": _split,
    "join": _join,
    "replace": _replace,
    "list": _no_args("list", _to_list),
    "first": _no_args("first", _first),
    "pairs": _pairs,
    "from_pairs": _from_pairs,
    "max_length": _max_length,
}


def _name_and_args(spec: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        return spec, {}
    if len(spec) != 1:
        raise TypeError("a transform with arguments is a one-key object: {name: {args}}")
    name, raw = next(iter(spec.items()))
    if not isinstance(raw, Mapping | type(None)):
        raise TypeError(f"arguments of {name!r} must be an object")
    return name, dict(raw or {})


def build_transform(spec: str | Mapping[str, Any], crosswalks: Crosswalks | None,
                    lookups: Mapping[str, Any] | None = None) -> Transform:
    """Turn ``"strip"`` or ``{"enum": {...}}`` into a function; raises ``KeyError``/``TypeError``.

    ``lookups`` are the resolvers the ``lookup`` transform asks (``None``: validate only).
    """
    name, args = _name_and_args(spec)
    if name == "lookup":
        from offering_sync.mapping.lookups import build_lookup

        return build_lookup(args, crosswalks, lookups, TransformError)
    if name not in REGISTRY:
        known = sorted([*REGISTRY, "lookup"])
        raise KeyError(f"unknown transform {name!r}; known: {', '.join(known)}")
    return REGISTRY[name](args, crosswalks)


# -- what the compiler may inline ---------------------------------------------------------------

INLINE_KINDS = frozenset({
    "strip", "lower", "upper", "str", "int", "decimal", "utc_datetime", "none_if_empty",
    "format_datetime:iso_z", "format_datetime:iso_z_millis", "format_datetime:date",
    "format_datetime:year", "crosswalk", "enum", "enum:case_sensitive", "max_length"})
"""The transforms the compiler writes out in the generated function (its fast paths)."""


def inline_kind(spec: str | Mapping[str, Any], crosswalks: Crosswalks | None,
                ) -> tuple[str, Any] | None:
    """Which fast path the compiler may write for ``spec``, and the data it reads, or None.

    Call only after ``build_transform`` accepted ``spec``. The kind is one of ``INLINE_KINDS``
    (our own names, never text from the mapping); the data (a table, a limit) reaches the
    generated function by reference. A fast path handles only the common case it is sure of
    and hands every other value to the registry's own function, so values and errors stay the
    registry's.
    """
    name, args = _name_and_args(spec)
    if name in ("strip", "lower", "upper", "str", "int", "decimal", "utc_datetime",
                "none_if_empty"):
        return name, None
    if name == "format_datetime":
        kind = f"format_datetime:{args['format']}"
        return (kind, None) if kind in INLINE_KINDS else None
    if name == "max_length":
        return name, int(args["chars"])
    if name == "enum":
        case = args.get("case_sensitive", False)
        table = {(str(k) if case else str(k).lower()): v for k, v in args["map"].items()}
        return ("enum:case_sensitive" if case else "enum"), table
    if name == "crosswalk" and crosswalks is not None:
        return name, _crosswalk_table(crosswalks, args["table"])
    return None
