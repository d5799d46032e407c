"""DigitalChalk API v5: offerings source (the v5 API has no endpoints that write offerings).

Docs: https://developer.digitalchalk.com/document/rest-api-v5/ (getting-started, using-oauth-2-0,
limit-and-offset, offerings/get-offerings). A long-lived token from the web UI is sent as
``Authorization: Bearer``. Lists page with ``limit`` (default 15, max 100) and zero-based
``offset`` and answer ``{results, next, prev}``, ``next`` absent on the last page; the docs also
show a bare array, which has no end signal, so it is read until a page comes back empty.
There is no modified-date filter: incremental runs are full scans diffed by content hash, and
``since``/``until`` select on ``createdDate``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.base import Page, Raw
from offering_sync.connectors.http.auth import HeaderToken
from offering_sync.connectors.http.check import source_check
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.paging import offset_pages
from offering_sync.connectors.http.per_record import pages_by_id
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import (
    ConnectionSettings,
    HttpConnector,
    HttpUrl,
    make_caller,
)
from offering_sync.errors import ConfigError, Rejected
from offering_sync.plugin import ApiCall, Check, SystemSpec

__all__ = ["LIST_OFFERINGS", "RECORD_FIELDS", "SYSTEM", "DigitalChalkSettings",
           "DigitalChalkSource"]

RECORD_FIELDS = frozenset({
    "id", "title", "createdDate", "beginDate", "endDate", "registrationBeginDate",
    "registrationEndDate", "summary", "catalogDescription", "dashboardDescription",
    "deliveryDescription", "currencyCode", "price", "offeringCategoryIds", "tags", "orderIndex",
    "thumbnailId",
})

MAX_PAGE_SIZE = 100  # "The maximum valid limit value is 100" (limit-and-offset)
GET_OFFERING = ApiCall("GET", "offerings/{id}", doc="rest-api-v5/offerings/get-offerings-id",
                       note="re-reads failed records; 404 when gone")
LIST_OFFERINGS = ApiCall(
    "GET", "offerings", doc="rest-api-v5/offerings/get-offerings, limit-and-offset",
    note="limit ≤ 100 and offset; filters createdDate, title, tag, offeringCategoryId")
_OPEN_END = "9999-12-31T23:59:59Z"


class DigitalChalkSettings(ConnectionSettings):
    """``OFFERING_SYNC_DIGITALCHALK_*``: where DigitalChalk is and how to reach it."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_DIGITALCHALK_", env_file=".env",
                                      extra="ignore")

    base_url: HttpUrl = "https://api.digitalchalk.com/dc/api/v5"
    token: SecretStr | None = Field(default=None, description="API token (DigitalChalk: My "
                                    "Account → API); required")
    page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE,
                           description="offerings per list call")
    title: str | None = Field(default=None, description="sync only offerings with this title")
    tag: str | None = Field(default=None, description="sync only offerings with this tag")
    offering_category_id: str | None = Field(
        default=None, description="sync only offerings in this category")
    # DigitalChalk documents no rate or concurrency limit (seed-apis.md §4.6 [GAP]): 4 list
    # pages at once is our reading, the bounded concurrency anchors.md suggests by default.
    concurrency: int = Field(default=4, ge=1, le=32, description=(
        "list pages read at once (DigitalChalk documents no limit: 4 is our choice)"))


def _caller(settings: DigitalChalkSettings, system: str, retry: RetryPolicy | None,
            ) -> HttpCaller:
    if settings.token is None:
        raise ConfigError("OFFERING_SYNC_DIGITALCHALK_TOKEN is not set: copy the API token "
                          "from DigitalChalk (My Account → API) into it")
    return make_caller(settings, system, HeaderToken(settings.token), retry)


class DigitalChalkSource(HttpConnector[DigitalChalkSettings]):
    """Streams DigitalChalk offerings page by page."""

    system = "digitalchalk"
    id_field = "id"
    supports_modified_since = False
    settings_class = DigitalChalkSettings
    caller_factory = staticmethod(_caller)


    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Yield pages of offerings; ``resume`` is the offset a previous page's checkpoint gave.

        The end of the listing is the vendor's own signal: an envelope without ``next``
        (limit-and-offset). A bare array carries none, and a page may be short while more
        follow, so it is read until a page comes back empty (issue 9.6).

        Raises:
            ConnectorError: the list call failed after retries.
            Rejected: the server's paging did not advance.
        """
        limit = self.settings.page_size
        params = self._filters(since, until)

        def fetch(offset: int) -> tuple[Page | None, int | None]:
            response = self.http.send(LIST_OFFERINGS.method, LIST_OFFERINGS.path, idempotent=True,
                                      params={**params, "limit": limit, "offset": offset})
            body = self.http.json(response)
            records, bad, next_link = _read_page(body)
            count = len(records) + len(bad)
            if isinstance(body, list) and not count:
                return None, None  # a bare array's only end signal: an empty page
            following = _next_offset(next_link, body, offset, count)
            if following is not None and following <= offset:
                raise Rejected(f"paging did not advance past offset {offset}",
                               system=self.system)
            return Page(records, checkpoint=str(offset + count), bad=bad), following

        # Up to CONCURRENCY pages in flight, handed out in order (issue 17).
        yield from offset_pages(fetch, int(resume) if resume else 0, limit,
                                self.settings.concurrency)

    @property
    def lists_everything(self) -> bool:
        """False when a title/tag/category filter narrows the listing (absence means nothing)."""
        return not (self.settings.title or self.settings.tag
                    or self.settings.offering_category_id)

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Re-read records by id (documented: a 404 means there is no such offering)."""
        return iter(pages_by_id(ids, self._one))

    def _one(self, offering_id: str) -> Raw | None:
        try:
            response = self.http.send(GET_OFFERING.method,
                                      GET_OFFERING.url(id=offering_id),
                                      idempotent=True, record=offering_id)
        except Rejected as exc:
            if exc.status == 404:
                return None
            raise
        body = self.http.json(response, offering_id)
        if isinstance(body, dict) and isinstance(body.get("results"), list):
            body = body["results"][0] if body["results"] else None
        return body if isinstance(body, dict) else None

    def _filters(self, since: datetime | None, until: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if since or until:
            # Range syntax "start,end" is our reading; the Date Filtering page was not found.
            start = _iso(since) if since else "1970-01-01T00:00:00Z"
            params["createdDate"] = f"{start},{_iso(until) if until else _OPEN_END}"
        for key, value in (("title", self.settings.title), ("tag", self.settings.tag),
                           ("offeringCategoryId", self.settings.offering_category_id)):
            if value:
                params[key] = value
        return params


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read_page(body: Any) -> tuple[list[Raw], list[tuple[str | None, str, str]], str | None]:
    """Records, undecodable items and the ``next`` link, from an envelope or a bare array."""
    if isinstance(body, list):
        items, next_link = body, None
    elif isinstance(body, dict) and "results" in body:
        items, next_link = body.get("results") or [], body.get("next")
    elif isinstance(body, dict):
        items, next_link = [body], None  # the official clients treat a lone object as one result
    else:
        items, next_link = [], None
    records: list[Raw] = []
    bad: list[tuple[str | None, str, str]] = []
    for item in items:
        if isinstance(item, dict):
            records.append(item)
        else:
            bad.append((None, "offering is not a JSON object", repr(item)[:2000]))
    return records, bad, next_link if isinstance(next_link, str) else None


def _next_offset(link: str | None, body: Any, offset: int, count: int) -> int | None:
    """Where the next page starts, or None at the end of the listing."""
    if link:
        values = parse_qs(urlsplit(link).query).get("offset")
        if values and values[0].isdigit():
            return int(values[0])
        return offset + count
    if isinstance(body, list):
        return offset + count  # no end signal in a bare array: ask until a page is empty
    return None  # an envelope without ``next`` (or a lone object) is the last page


def check() -> list[Check]:
    """``offering-sync check digitalchalk``: settings, token, page 1 of offerings; no write."""
    return source_check("digitalchalk", "OFFERING_SYNC_DIGITALCHALK_",
                        DigitalChalkSource.from_settings, DigitalChalkSource.settings_class)


SYSTEM = SystemSpec(
    slug="digitalchalk", title="DigitalChalk (API v5)", settings_class=DigitalChalkSettings,
    make_source=DigitalChalkSource.from_settings, mappings_dir=MAPPINGS_DIR,
    record_fields=RECORD_FIELDS, api_calls=(LIST_OFFERINGS, GET_OFFERING), secrets=("token",),
    note="source only: the v5 API has no endpoints that write offerings",
    check=check)
