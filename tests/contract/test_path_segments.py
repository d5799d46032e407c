"""A value put into a URL path (tenant id, install SID, record ids) stays one segment: it is
percent-encoded, so `a/../b` cannot walk the path and `x?y=1` cannot start a query string; a
tenant id that could not be one segment is refused as a setting (tests/e2e/test_cli_mistakes)."""

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from offering_sync.connectors.digitalchalk import DigitalChalkSettings, DigitalChalkSource
from offering_sync.connectors.rhythm import RhythmSettings, RhythmSource, RhythmTarget
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceTarget
from offering_sync.connectors.smarterproctoring import (
    SmarterProctoringSettings,
    SmarterProctoringSource,
    SmarterProctoringTarget,
)
from offering_sync.emulators import server
from offering_sync.plugin import ApiCall
from offering_sync.records import WritePolicy, WriteRequest
from tests.conftest import fast_retry

ODD = ["tenant-ho/../tenant-ho", "tenant ho?x=1", "..", "a#b", "ü/%2F"]
ENCODED = ["tenant-ho%2F..%2Ftenant-ho", "tenant%20ho%3Fx%3D1", "%2E%2E", "a%23b",
           "%C3%BC%2F%252F"]


@pytest.fixture(scope="module")
def vendor():
    """Answers `{}` to anything and remembers each request's raw path and query."""
    seen: list[tuple[str, str]] = []

    async def anything(request):
        seen.append((request.scope["raw_path"].decode(), request.scope["query_string"].decode()))
        return JSONResponse({})

    app = Starlette(routes=[Route("/{path:path}", anything,
                                  methods=["GET", "POST", "PUT", "DELETE"])])
    with server.serve_in_thread(app) as running:
        yield running.url, seen


@pytest.mark.parametrize(("value", "encoded"), zip(ODD, ENCODED, strict=True))
def test_api_call_urls_encode_each_value_as_one_segment(value, encoded):
    call = ApiCall("GET", "courseOfferings/{tenant}/{id}", doc="-")
    assert call.url(tenant=value, id=value) == f"courseOfferings/{encoded}/{encoded}"
    assert ApiCall("GET", "services/data/v{version}/query", doc="-").url(version="66.0") == \
        "services/data/v66.0/query"


@pytest.mark.parametrize(("value", "encoded"), zip(ODD, ENCODED, strict=True))
def test_every_connector_sends_path_values_percent_encoded(vendor, value, encoded):
    url, seen = vendor
    seen.clear()
    rhythm_cfg = RhythmSettings(base_url=url, tenant_id="tenant-1", token=SecretStr("rh-token"))
    list(RhythmSource.from_settings(rhythm_cfg, retry=fast_retry()).pages())
    rhythm = RhythmTarget.from_settings(rhythm_cfg, retry=fast_retry())
    rhythm.fetch(value, "k")
    rhythm.delete(value, "k")
    sp_cfg = SmarterProctoringSettings(base_url=url, token=SecretStr("sp-token"),
                                       install_sid="AI" + "0" * 32,
                                       concurrency=1)  # one listing call, in order
    list(SmarterProctoringSource.from_settings(sp_cfg, retry=fast_retry()).pages())
    SmarterProctoringTarget.from_settings(sp_cfg, retry=fast_retry()).fetch(value, "k")
    dc_cfg = DigitalChalkSettings(base_url=url + "/dc/api/v5", token=SecretStr("dc-token"))
    list(DigitalChalkSource.from_settings(dc_cfg, retry=fast_retry()).read_ids([value]))
    sf_cfg = SalesforceSettings(login_url=url, instance_url=url, token=SecretStr("sf-token"))
    SalesforceTarget.from_settings(sf_cfg, retry=fast_retry()).retire(
        [WriteRequest("k", {}, target_id=value)], how="delete", policy=WritePolicy())
    sid = "AI" + "0" * 32
    assert [path for path, _query in seen] == [
        "/courseOfferings/tenant-1",
        f"/courseOfferings/tenant-1/{encoded}",
        f"/courseOfferings/tenant-1/{encoded}",
        f"/v1/installs/{sid}/courseOfferings",
        f"/v1/installs/{sid}/courseOfferings/{encoded}",
        f"/dc/api/v5/offerings/{encoded}",
        f"/services/data/v66.0/sobjects/CourseOffering/{encoded}",
    ]
    queries = [query for _path, query in seen]
    assert queries[0].startswith("fields=id%2C") and "&" not in queries[0]
    assert queries[1:] == ["consistentRead=true", "", "limit=100", "", "", ""]
