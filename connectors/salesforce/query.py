"""SOQL built from typed values, and the query loop that follows ``nextRecordsUrl`` safely.

Literals follow the SOQL reference ("Quoted String Escape Sequences", date formats): strings are
quoted with backslash, quotes and control characters escaped, numbers must be finite, booleans are
``true``/``false``, dates ``YYYY-MM-DD`` and date-times ``YYYY-MM-DDThh:mm:ss.sssZ``. Object and
field names cannot be escaped, so they must be API names (letters, digits, underscores). No text
from a record or a mapping is ever pasted into a query.

A paging link (``nextRecordsUrl``) is followed only on the org's instance (same scheme, host and
port): the bearer token never goes to another host (issue 9.12).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.salesforce.settings import SalesforceSettings, env
from offering_sync.errors import ConfigError, Rejected
from offering_sync.plugin import ApiCall

__all__ = ["QUERY", "api_name", "follow_link", "query_pages", "query_rows", "select",
           "soql_literal"]

QUERY = ApiCall("GET", "services/data/v{version}/query",
                doc="api_rest resources-query, resources-query-more-results",
                note="q=SELECT …, then nextRecordsUrl on the same instance only")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\b": "\\b", "\f": "\\f"}
_ESCAPING = str.maketrans(_ESCAPES)  # the same escapes in one C pass (a stamp query has 200 ids)


def api_name(name: str) -> str:
    """``name`` if it is an sObject or field API name, else a ConfigError (never escaped in)."""
    if not isinstance(name, str) or not _API_NAME.match(name):
        raise ConfigError(f"{name!r} is not a Salesforce API name")
    return name


def soql_literal(value: Any) -> str:
    """A typed value as a SOQL literal; anything else is refused."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        if (isinstance(value, float) and not math.isfinite(value)) or \
                (isinstance(value, Decimal) and not value.is_finite()):
            raise ValueError("a SOQL number must be finite")
        return format(Decimal(str(value)), "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a SOQL dateTime needs a timezone")
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPING) + "'"
    raise ValueError(f"cannot use a {type(value).__name__} in SOQL")


def select(sobject: str, fields: Sequence[str], where: Mapping[str, Any] | None = None,
           limit: int | None = None) -> str:
    """``SELECT fields FROM sobject [WHERE f = literal AND …] [LIMIT n]`` from typed values."""
    names = ", ".join(api_name(f) for f in dict.fromkeys(fields))
    clause = " AND ".join(f"{api_name(k)} = {soql_literal(v)}" for k, v in (where or {}).items())
    text = f"SELECT {names} FROM {api_name(sobject)}"  # noqa: S608 - names checked, values typed
    if clause:
        text += f" WHERE {clause}"
    if limit is not None:
        text += f" LIMIT {int(limit)}"
    return text


def _origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    parsed = httpx.URL(str(url))
    return parsed.scheme, parsed.host, parsed.port


def follow_link(http: HttpCaller, link: str) -> str:
    """The path to request for a paging link; an absolute link must be on the org's instance.

    Raises:
        Rejected: the link points at another scheme, host or port.
    """
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//", link):
        return link.lstrip("/")
    auth = http.client.auth
    instance = getattr(auth, "instance_url", None) or str(http.client.base_url)
    if _origin(link) != _origin(instance):
        shown = httpx.URL(link).copy_with(query=None)
        raise Rejected(f"a paging link points at {shown.scheme}://{shown.netloc.decode()}, not at "
                       f"the org's instance {str(instance).rstrip('/')}; it is not followed, so "
                       "the session token is never sent to another host", system=http.system)
    return link


def query_pages(http: HttpCaller, settings: SalesforceSettings, soql: str | None = None, *,
                resume: str | None = None, totals: list[int] | None = None,
                ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
    """``(records, nextRecordsUrl)`` page by page until the org says ``done``.

    ``totals`` collects each answer's ``totalSize`` (the query's whole count), for progress.
    """
    if resume:
        url, params = follow_link(http, resume), None
    else:
        url = QUERY.url(version=settings.api_version)
        params = {"q": soql}
    while True:
        body = http.json(http.send("GET", url, idempotent=True, params=params))
        if not isinstance(body, dict):
            raise Rejected("a query answer is not a JSON object", system=http.system)
        records = [r for r in body.get("records") or [] if isinstance(r, dict)]
        size = body.get("totalSize")
        if totals is not None and isinstance(size, int) and not isinstance(size, bool):
            totals.append(size)
        following = body.get("nextRecordsUrl")
        following = str(following) if following else None
        yield records, following
        if body.get("done", True) or not following:
            return
        url, params = follow_link(http, following), None


def query_rows(http: HttpCaller, settings: SalesforceSettings, sobject: str,
               fields: Sequence[str], where: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every row of one query, capped at ``lookup_max_rows`` (a lookup reads a table once)."""
    rows: list[dict[str, Any]] = []
    try:
        for records, _ in query_pages(http, settings, select(sobject, fields, where)):
            rows.extend({k: v for k, v in r.items() if k != "attributes"} for r in records)
            if len(rows) > settings.lookup_max_rows:
                raise ConfigError(
                    f"the lookup on {sobject} reads more than {settings.lookup_max_rows:,} rows; "
                    f"narrow it with `where:` in the mapping or raise {env('lookup_max_rows')}")
    except Rejected as exc:
        # A lookup the org refuses fails every record alike: a setting or the mapping is wrong.
        # (A refused credential stays ``Unauthorized``: its message already names the setting.)
        raise ConfigError(f"the mapping's lookup on {sobject} was refused ({exc}); check "
                          f"{settings.api_url_setting}, the credentials, and that the object and fields the "
                          "lookup names exist and are readable") from None
    return rows
