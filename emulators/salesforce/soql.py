"""The subset of SOQL the emulated org understands, parsed with a real tokenizer.

``SELECT f, … FROM Object [WHERE cond [AND …]] [ORDER BY …] [LIMIT n]`` where a condition is
``a op literal`` (``op``: ``= != < <= > >=``) or ``a IN (literal, …)``, and a literal is a quoted
string (backslash escapes, as the SOQL reference's "Quoted String Escape Sequences" lists),
``true``/``false``/``null``, a number, a date (``2026-01-31``) or a dateTime
(``2026-01-31T00:00:00Z`` / ``…+00:00``). String equality ignores case, as SOQL's does.
Anything else is ``MALFORMED_QUERY``, never a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

__all__ = ["Condition", "Query", "QueryError", "compare", "parse", "parse_sf_datetime"]

_TOKEN = re.compile(r"""
    (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:?\d\d))
  | (?P<date>\d{4}-\d\d-\d\d)
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<comma>,)
  | (?P<paren>[()])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<space>\s+)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "'": "'", '"': '"',
            "\\": "\\", "_": "\\_", "%": "\\%"}


class QueryError(ValueError):
    """The query is outside what the org understands: its ``code`` is the vendor's."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Condition:
    """``field op value`` with the literal already typed."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Query:
    """A parsed SELECT."""

    fields: tuple[str, ...]
    sobject: str
    where: tuple[Condition, ...]
    limit: int | None


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise QueryError("MALFORMED_QUERY", f"unexpected token at position {pos}")
        kind = match.lastgroup or ""
        if kind != "space":
            out.append((kind, match.group()))
        pos = match.end()
    return out


def _unquote(literal: str) -> str:
    body, out, index = literal[1:-1], [], 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            if index + 1 >= len(body) or body[index + 1] not in _ESCAPES:
                raise QueryError("MALFORMED_QUERY", "invalid escape sequence in a string")
            out.append(_ESCAPES[body[index + 1]])
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def parse_sf_datetime(text: str) -> datetime | None:
    """``2026-01-31T00:00:00.000+0000``, ``…Z`` or ``…+00:00`` as an aware datetime."""
    value = text.strip().replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", value):
        value = value[:-2] + ":" + value[-2:]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _literal(kind: str, text: str) -> Any:
    if kind == "string":
        return _unquote(text)
    if kind == "datetime":
        moment = parse_sf_datetime(text)
        if moment is None:
            raise QueryError("MALFORMED_QUERY", f"invalid dateTime {text}")
        return moment
    if kind == "date":
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise QueryError("MALFORMED_QUERY", f"invalid date {text}") from None
    if kind == "number":
        try:
            return Decimal(text)
        except InvalidOperation:
            raise QueryError("MALFORMED_QUERY", f"invalid number {text}") from None
    if kind == "name" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind == "name" and text.lower() == "null":
        return None
    raise QueryError("MALFORMED_QUERY", f"expected a value, found {text!r}")


def parse(soql: str) -> Query:
    """Parse ``soql`` or raise ``QueryError``."""
    tokens = _tokens(soql)
    pos = 0

    def word(expected: str) -> bool:
        nonlocal pos
        if pos < len(tokens) and tokens[pos][0] == "name" and tokens[pos][1].upper() == expected:
            pos += 1
            return True
        return False

    def take(kind: str) -> str:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos][0] != kind:
            found = tokens[pos][1] if pos < len(tokens) else "end of query"
            raise QueryError("MALFORMED_QUERY", f"unexpected token: {found!r}")
        pos += 1
        return tokens[pos - 1][1]

    if not word("SELECT"):
        raise QueryError("MALFORMED_QUERY", "a query starts with SELECT")
    fields = [take("name")]
    while pos < len(tokens) and tokens[pos][0] == "comma":
        pos += 1
        fields.append(take("name"))
    if not word("FROM"):
        raise QueryError("MALFORMED_QUERY", "expected FROM")
    sobject = take("name")
    where: list[Condition] = []
    if word("WHERE"):
        while True:
            name = take("name")
            if word("IN"):
                if take("paren") != "(":
                    raise QueryError("MALFORMED_QUERY", "expected ( after IN")
                values = []
                while True:
                    if pos >= len(tokens):
                        raise QueryError("MALFORMED_QUERY", "an IN list needs values")
                    kind, text = tokens[pos]
                    pos += 1
                    values.append(_literal(kind, text))
                    if pos < len(tokens) and tokens[pos][0] == "comma":
                        pos += 1
                        continue
                    break
                if take("paren") != ")":
                    raise QueryError("MALFORMED_QUERY", "expected ) after the IN list")
                where.append(Condition(name, "IN", tuple(values)))
            else:
                op = take("op")
                if pos >= len(tokens):
                    raise QueryError("MALFORMED_QUERY", "a condition needs a value")
                kind, text = tokens[pos]
                pos += 1
                where.append(Condition(name, "!=" if op == "<>" else op, _literal(kind, text)))
            if not word("AND"):
                break
    if word("ORDER"):
        if not word("BY"):
            raise QueryError("MALFORMED_QUERY", "expected BY after ORDER")
        while pos < len(tokens) and not (tokens[pos][0] == "name"
                                         and tokens[pos][1].upper() == "LIMIT"):
            pos += 1
    limit = None
    if word("LIMIT"):
        limit = int(Decimal(take("number")))
        if limit < 0:
            raise QueryError("MALFORMED_QUERY", "LIMIT must not be negative")
    if pos != len(tokens):
        raise QueryError("MALFORMED_QUERY", f"unexpected token: {tokens[pos][1]!r}")
    return Query(tuple(fields), sobject, tuple(where), limit)


def _typed(stored: Any, literal: Any) -> Any:
    """``stored`` (as the org keeps it) in the type of ``literal``, or ``None`` when it cannot."""
    if literal is None or stored is None:
        return stored
    if isinstance(literal, bool):
        return stored in (True, "true") if isinstance(stored, bool | str) else None
    if isinstance(literal, datetime):
        return parse_sf_datetime(stored) if isinstance(stored, str) else None
    if isinstance(literal, date):
        moment = parse_sf_datetime(stored) if isinstance(stored, str) and "T" in stored else None
        if moment is not None:
            return moment.astimezone(UTC).date()
        try:
            return date.fromisoformat(str(stored)[:10])
        except ValueError:
            return None
    if isinstance(literal, Decimal):
        try:
            return Decimal(str(stored))
        except InvalidOperation:
            return None
    return str(stored)


@lru_cache(maxsize=64)
def _folded(literals: tuple[str, ...]) -> frozenset[str]:
    """An ``IN`` list of text literals, case-folded once per query instead of once per row.

    Without it a 200-id ``IN`` over 200 rows made 40,000 comparisons: on a shared machine the
    emulator's CPU for the per-batch stamp query came out of the sync's share in the benchmark.
    """
    return frozenset(one.casefold() for one in literals)


def compare(stored: Any, op: str, literal: Any) -> bool:
    """SOQL's comparison of a stored value with a typed literal (a tuple for ``IN``)."""
    if op == "IN":
        if stored is not None and all(isinstance(one, str) for one in literal):
            return str(stored).casefold() in _folded(literal)  # one set look-up, not n compares
        return any(compare(stored, "=", one) for one in literal)
    value = _typed(stored, literal)
    if literal is None or value is None:
        equal = value is None and literal is None
        return equal if op == "=" else (not equal if op == "!=" else False)
    if isinstance(literal, str):
        value, literal = str(value).casefold(), literal.casefold()
    try:
        return bool({"=": value == literal, "!=": value != literal}.get(op)) if op in ("=", "!=") \
            else bool({"<": value < literal, "<=": value <= literal, ">": value > literal,
                       ">=": value >= literal}[op])
    except TypeError:
        return False
