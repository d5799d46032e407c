"""The ``lookup`` transform: turn a value into a target system's record id without a hand-kept table.

A mapping declares what to look up; the target system answers with rows. The resolver is any
object with ``lookup_rows(sobject, fields, where)`` (``LookupResolver``): the Salesforce
connector's target is one, building its SOQL from typed, escaped values. The core never sees
a query language: it asks once per lookup per run for the rows (``where`` holds only the
mapping's constants), keeps them for the run, and matches each record's value against them here.

```yaml
courseOffering.academicSessionId:
  from: starts_at
  transforms:
    - lookup:
        object: AcademicSession                  # what to look in
        match:                                   # how a row matches this field's value
          ClassStartDate: {lte: value}           #   row.ClassStartDate <= value
          ClassEndDate: {gte: value}             #   row.ClassEndDate >= value
        return: Id                               # what the field becomes (default Id)
        where: {IsActive: true}                  # optional constants, sent with the query
        override: {table: salesforce_academic_sessions, key: year}   # optional crosswalk first
courseOffering.learningCourseId:
  coalesce: [course_ref, source_system]
  transforms:
    - lookup: {object: LearningCourse, by: CourseNumber, fallback: OFFERING-SYNC-DEFAULT}
```

Order of resolution: the ``override`` table's entry for the value's key (a crosswalk wins over
the org), then the rows, then the ``fallback`` key (``by``/``eq`` lookups), then the table's
``"*"`` entry. No match, or more than one, is a ``TransformError`` naming the lookup and the
value, so the record becomes a dead letter and the run goes on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, runtime_checkable

__all__ = ["OPERATORS", "LookupResolver", "StaticLookups", "build_lookup"]

Transform = Callable[[Any], Any]
OPERATORS = {"eq": "=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_KEY_FORMATS: dict[str, Callable[[datetime], str]] = {
    "year": lambda d: f"{d.astimezone(UTC).year:04d}",
    "date": lambda d: d.astimezone(UTC).date().isoformat(),
    "iso_z": lambda d: d.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
_ARGS = {"object", "match", "by", "return", "where", "override", "fallback", "system"}


@runtime_checkable
class LookupResolver(Protocol):
    """A system that can answer lookups: every row of one object, with the given fields."""

    def lookup_rows(self, sobject: str, fields: Sequence[str],
                    where: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        """Rows of ``sobject`` whose ``where`` fields equal the given constants (one query)."""
        ...


class StaticLookups:
    """A ``LookupResolver`` over rows held in memory: tests, and mappings checked offline."""

    def __init__(self, tables: Mapping[str, Sequence[Mapping[str, Any]]]) -> None:
        self.tables = tables
        self.queries: list[tuple[str, tuple[str, ...], dict[str, Any]]] = []

    def lookup_rows(self, sobject: str, fields: Sequence[str],
                    where: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The rows of ``sobject`` matching ``where``, with only ``fields``."""
        self.queries.append((sobject, tuple(fields), dict(where)))
        rows = [r for r in self.tables.get(sobject, ()) if all(r.get(k) == v
                                                               for k, v in where.items())]
        return [{f: r.get(f) for f in fields} for r in rows]


def _parse_args(args: Mapping[str, Any]) -> tuple[str, list[tuple[str, str]], str,
                                                  dict[str, Any], dict[str, Any] | None,
                                                  Any, str | None]:
    unknown = set(args) - _ARGS
    if unknown:
        raise TypeError(f"unknown argument {sorted(unknown)[0]!r}; allowed: {sorted(_ARGS)}")
    sobject = args.get("object")
    if not isinstance(sobject, str) or not sobject:
        raise TypeError("argument 'object' is required: the target object to look in")
    if ("match" in args) == ("by" in args):
        raise TypeError("give exactly one of 'match' (conditions) or 'by' (a field equal to "
                        "the value)")
    if "by" in args:
        if not isinstance(args["by"], str) or not args["by"]:
            raise TypeError("argument 'by' must be a field name")
        match = [(args["by"], "eq")]
    else:
        raw = args["match"]
        if not isinstance(raw, Mapping) or not raw:
            raise TypeError("argument 'match' maps fields to a condition, e.g. "
                            "{StartDate: {lte: value}}")
        match = []
        for name, condition in raw.items():
            if not isinstance(condition, Mapping) or len(condition) != 1:
                raise TypeError(f"match {name!r}: a condition is one of "
                                f"{{{', '.join(OPERATORS)}: value}}")
            op, operand = next(iter(condition.items()))
            if op not in OPERATORS or operand != "value":
                raise TypeError(f"match {name!r}: write {{op: value}} with op one of "
                                f"{', '.join(OPERATORS)}")
            match.append((str(name), str(op)))
    returns = args.get("return", "Id")
    if not isinstance(returns, str) or not returns:
        raise TypeError("argument 'return' must be a field name")
    where = args.get("where", {})
    if not isinstance(where, Mapping) or not all(
            isinstance(v, str | int | float | bool | date) or v is None for v in where.values()):
        raise TypeError("argument 'where' maps fields to constants (text, numbers, true/false, "
                        "dates)")
    override = args.get("override")
    if override is not None:
        if isinstance(override, str):
            override = {"table": override}
        if not isinstance(override, Mapping) or not isinstance(override.get("table"), str) or \
                set(override) - {"table", "key"}:
            raise TypeError("argument 'override' is a crosswalk table: {table: name, key: "
                            f"{'|'.join(_KEY_FORMATS)}}}")
        if override.get("key") is not None and override["key"] not in _KEY_FORMATS:
            raise TypeError(f"override key must be one of {', '.join(_KEY_FORMATS)}")
        override = dict(override)
    fallback = args.get("fallback")
    if fallback is not None and (not isinstance(fallback, str | int) or
                                 any(op != "eq" for _, op in match)):
        raise TypeError("'fallback' is a value to look up instead, for 'by'/'eq' lookups")
    system = args.get("system")
    if system is not None and not isinstance(system, str):
        raise TypeError("argument 'system' must be a system name")
    return sobject, match, returns, dict(where), override, fallback, system


def build_lookup(args: Mapping[str, Any], crosswalks: Mapping[str, Mapping[str, Any]] | None,
                 lookups: Mapping[str, LookupResolver] | None,
                 error: type[Exception] = ValueError) -> Transform:
    """The lookup transform for ``args``; ``lookups=None`` validates only.

    Raises:
        TypeError: the arguments are wrong, or no resolver serves the lookup.
    """
    sobject, match, returns, where, override, fallback, system = _parse_args(args)
    label = f"lookup {sobject} where " + " and ".join(
        f"{field} {OPERATORS[op]} value" for field, op in match)
    if lookups is None:
        def unresolved(_value: Any) -> Any:
            raise error(f"{label}: compiled without a connection to the target")
        return unresolved
    if system is None and len(lookups) != 1:
        raise TypeError(f"{label}: name the 'system' to ask (one of {sorted(lookups)})"
                        if lookups else f"{label}: the target system answers no lookups")
    resolver = lookups.get(system) if system else next(iter(lookups.values()))
    if resolver is None:
        raise TypeError(f"{label}: system {system!r} answers no lookups")
    table: dict[str, Any] = {}
    if override is not None and crosswalks is not None:
        table = {str(k): v for k, v in (crosswalks.get(override["table"]) or {}).items()}
    return _Lookup(resolver, sobject, match, returns, where, table, override, fallback, label,
                   error)


class _Lookup:
    """One lookup of one mapping: rows read once, on first use, then matched in memory."""

    def __init__(self, resolver: LookupResolver, sobject: str, match: list[tuple[str, str]],
                 returns: str, where: dict[str, Any], table: dict[str, Any],
                 override: dict[str, Any] | None, fallback: Any, label: str,
                 error: type[Exception]) -> None:
        self.resolver, self.sobject, self.match, self.returns = resolver, sobject, match, returns
        self.where, self.table, self.fallback, self.label = where, table, fallback, label
        self.key_format = _KEY_FORMATS.get((override or {}).get("key") or "")
        self.error = error
        self.rows: list[Mapping[str, Any]] | None = None
        self.memo: dict[Any, Any] = {}
        self.lock = threading.Lock()

    def _load(self) -> list[Mapping[str, Any]]:
        with self.lock:
            if self.rows is None:
                fields = list(dict.fromkeys([self.returns, *(f for f, _ in self.match)]))
                self.rows = list(self.resolver.lookup_rows(self.sobject, fields, self.where))
            return self.rows

    def _key(self, value: Any) -> str:
        if isinstance(value, datetime) and self.key_format is not None:
            return self.key_format(value)
        if isinstance(value, datetime):
            return value.astimezone(UTC).isoformat()
        return str(value)

    def __call__(self, value: Any) -> Any:
        try:
            known = self.memo.get(value, self)
        except TypeError:  # an unhashable value is looked up every time
            known = self
        if known is not self:
            return known
        found = self._resolve(value)
        try:
            self.memo[value] = found
        except TypeError:
            pass
        return found

    def _resolve(self, value: Any) -> Any:
        key = self._key(value)
        if key in self.table:
            return self.table[key]
        hits = self._matches(value)
        if not hits and self.fallback is not None:
            hits = self._matches(self.fallback)
        if len(hits) == 1:
            return hits[0]
        if not hits and "*" in self.table:
            return self.table["*"]
        if hits:
            raise self.error(f"{self.label}: {len(hits)} {self.sobject} records match; narrow "
                             "the lookup with `where:` or add the value to its override table")
        # No value in the text: the mapping's error names it as "(value: …)", and alike
        # failures group together in the end-of-run summary.
        raise self.error(f"{self.label}: no {self.sobject} matches this value")

    def _matches(self, value: Any) -> list[Any]:
        found = []
        for row in self._load():
            if all(_compare(row.get(field), op, value) for field, op in self.match):
                result = row.get(self.returns)
                if result is not None and result not in found:
                    found.append(result)
        return found


def _as_instant(stored: Any) -> datetime | date | None:
    if isinstance(stored, datetime | date):
        return stored
    if not isinstance(stored, str):
        return None
    text = stored.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    text = text.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]  # Salesforce's +0000
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _typed_pair(stored: Any, value: Any) -> tuple[Any, Any] | None:
    """``(stored, value)`` made comparable, or ``None`` when they cannot be."""
    if stored is None:
        return None
    if isinstance(value, datetime):
        moment = _as_instant(stored)
        if isinstance(moment, datetime):
            return moment, value
        if isinstance(moment, date):
            return moment, value.astimezone(UTC).date()
        return None
    if isinstance(value, date):
        moment = _as_instant(stored)
        if isinstance(moment, datetime):
            return moment.astimezone(UTC).date(), value
        return (moment, value) if isinstance(moment, date) else None
    if isinstance(value, bool) or isinstance(stored, bool):
        return (stored, value) if isinstance(stored, bool) and isinstance(value, bool) else None
    if isinstance(value, int | float | Decimal):
        try:
            return Decimal(str(stored)), Decimal(str(value))
        except InvalidOperation:
            return None
    return str(stored).casefold(), str(value).casefold()


def _compare(stored: Any, op: str, value: Any) -> bool:
    pair = _typed_pair(stored, value)
    if pair is None:
        return False
    left, right = pair
    if op == "eq":
        return bool(left == right)
    if op == "lt":
        return bool(left < right)
    if op == "lte":
        return bool(left <= right)
    if op == "gt":
        return bool(left > right)
    return bool(left >= right)
