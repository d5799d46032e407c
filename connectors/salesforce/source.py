"""Salesforce as a source: CourseOffering through the REST query API (resources-query).

Incremental by ``SystemModstamp`` (ordered by it, then Id); the watermark is the newest
``SystemModstamp`` loaded, and a re-read of the boundary second is harmless (hash diff). Pages
are at most 2,000 records; ``nextRecordsUrl`` is followed only on the org's instance.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from offering_sync.connectors.base import Page
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.settings import HttpConnector
from offering_sync.connectors.salesforce.connection import classify, make_salesforce_caller
from offering_sync.connectors.salesforce.query import query_pages, soql_literal
from offering_sync.connectors.salesforce.settings import SalesforceSettings

__all__ = ["RECORD_FIELDS", "SalesforceSource"]

# CourseOffering sObject fields read by the source (Education Cloud object reference, v57.0+).
RECORD_FIELDS = frozenset({
    "Id", "Name", "AcademicSessionId", "LearningCourseId", "StartDate", "EndDate", "IsActive",
    "EnrollmentCapacity", "WaitlistCapacity", "SectionNumber", "PrimaryFacultyId",
    "Description", "SystemModstamp", "CreatedDate",
})


class SalesforceSource(HttpConnector[SalesforceSettings]):
    """Reads CourseOffering through the REST query API, following ``nextRecordsUrl``."""

    system = "salesforce"
    id_field = "Id"
    supports_modified_since = True
    settings_class = SalesforceSettings
    caller_factory = staticmethod(make_salesforce_caller)

    def __init__(self, http: HttpCaller, settings: SalesforceSettings) -> None:
        super().__init__(http, settings)
        http.classify = classify

    def soql(self, since: datetime | None, until: datetime | None) -> str:
        """The query for one window of ``SystemModstamp``."""
        where = []
        if since:
            where.append(f"SystemModstamp >= {_soql_datetime(since)}")
        if until:
            where.append(f"SystemModstamp <= {_soql_datetime(until)}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        # Only constant field names and datetimes we formatted ourselves reach the query.
        return (f"SELECT {', '.join(sorted(RECORD_FIELDS))} FROM CourseOffering{clause} "  # noqa: S608
                "ORDER BY SystemModstamp, Id")

    def read_ids(self, ids: Sequence[str]) -> Iterator[Page]:
        """Re-read records by Id: one SOQL query per 200 ids (values escaped, never pasted)."""
        for start in range(0, len(ids), 200):
            values = ", ".join(soql_literal(i) for i in ids[start:start + 200])
            query = (f"SELECT {', '.join(sorted(RECORD_FIELDS))} FROM CourseOffering "  # noqa: S608
                     f"WHERE Id IN ({values})")
            for records, _ in query_pages(self.http, self.settings, query):
                if records:
                    yield Page(records)

    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Pages of up to 2,000 records; ``resume`` is a ``nextRecordsUrl``.

        Raises:
            ConnectorError: a query call failed after retries, or a paging link pointed at
                another host (``Rejected``).
        """
        soql = None if resume else self.soql(since, until)
        totals: list[int] = []
        for records, following in query_pages(self.http, self.settings, soql, resume=resume,
                                              totals=totals):
            yield Page(records, checkpoint=following, total=totals[-1] if totals else None)


def _soql_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{moment.microsecond // 1000:03d}Z"
