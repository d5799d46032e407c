"""Salesforce as a source: the REST query API over CourseOffering."""

import time
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceSource
from tests.systems import System


def test_query_pages_follow_next_records_url_until_done():
    system = System("salesforce", 450)
    system.app.state.query_page_size = 200
    pages = list(system.source().pages())
    assert [len(p.records) for p in pages] == [200, 200, 50]
    assert pages[0].checkpoint and pages[-1].checkpoint is None
    assert len({r["Id"] for p in pages for r in p.records}) == 450


def test_records_carry_sobject_fields_and_salesforce_datetimes():
    system = System("salesforce", 1)
    (page,) = list(system.source().pages())
    record = page.records[0]
    assert record["attributes"]["type"] == "CourseOffering"
    assert record["StartDate"].endswith("+0000") and record["IsActive"] is True


def test_since_selects_by_system_modstamp():
    system = System("salesforce", 5)
    time.sleep(0.01)  # stamps have millisecond precision
    cut = datetime.now(UTC)
    time.sleep(0.01)
    some_id = next(iter(system.stored()))
    system.rename(some_id, "changed")
    records = [r for p in system.source().pages(since=cut) for r in p.records]
    assert [r["Id"] for r in records] == [some_id]


def test_the_documented_query_response_shape_is_read():
    pages = {
        "q": {"totalSize": 3, "done": False, "nextRecordsUrl": "/services/data/v66.0/query/01g-2",
              "records": [{"attributes": {"type": "CourseOffering"}, "Id": "a"},
                          {"attributes": {"type": "CourseOffering"}, "Id": "b"}]},
        "more": {"totalSize": 3, "done": True, "records": [{"Id": "c"}]},
    }
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(
        200, json=pages["more" if "01g-2" in request.url.path else "q"])),
        base_url="http://sf/")
    source = SalesforceSource(HttpCaller(client, "salesforce"),
                              SalesforceSettings(token=SecretStr("t")))
    assert [r["Id"] for p in source.pages() for r in p.records] == ["a", "b", "c"]


def test_a_malformed_query_is_answered_with_the_rest_error_array():
    system = System("salesforce")
    client = system.source().http.client
    answer = client.get("services/data/v66.0/query", params={"q": "SELECT Nope FROM CourseOffering"})
    assert answer.status_code == 400 and answer.json()[0]["errorCode"] == "INVALID_FIELD"
