"""Rhythm's Auth0 client credentials: a refused or unreachable token endpoint is said as the
setting to fix (issue 11.3, issue 9.16), and a 24-hour token is minted once."""

import pytest
from pydantic import SecretStr

from offering_sync.connectors.rhythm import RhythmSettings, RhythmSource
from offering_sync.emulators import rhythm, server
from offering_sync.errors import ConfigError, Unauthorized
from tests.conftest import fast_retry


@pytest.fixture(scope="module")
def tenant():
    running = server.start(rhythm.create_app())
    yield running
    running.stop()


def source(url: str, auth_url: str, secret: str = rhythm.DEMO_CLIENT_SECRET) -> RhythmSource:
    return RhythmSource.from_settings(RhythmSettings(
        base_url=url, tenant_id=rhythm.DEMO_TENANT, auth_url=auth_url,
        client_id=rhythm.DEMO_CLIENT_ID, client_secret=SecretStr(secret)), retry=fast_retry())


def test_a_wrong_client_secret_names_the_setting_and_the_auth_url(tenant):
    auth_url = tenant.url + "/oauth/token"
    with pytest.raises(Unauthorized) as info:
        list(source(tenant.url, auth_url, "wrong-rhythm-secret").pages())
    message = str(info.value)
    assert f"Auth0 refused OFFERING_SYNC_RHYTHM_CLIENT_ID / OFFERING_SYNC_RHYTHM_CLIENT_SECRET at "\
           f"{auth_url}: access_denied (Unauthorized)" in message
    assert "wrong-rhythm-secret" not in message


def test_an_unreachable_auth_url_names_auth_url_not_the_base_url(tenant):
    with pytest.raises(ConfigError) as info:
        list(source(tenant.url, "http://127.0.0.1:9/oauth/token").pages())
    message = str(info.value)
    assert "cannot reach rhythm at http://127.0.0.1:9/oauth/token" in message
    assert "check OFFERING_SYNC_RHYTHM_AUTH_URL" in message and "BASE_URL" not in message


def test_one_token_serves_a_whole_run(tenant):
    tenant.app.state.tenant.seed(250)
    reader = source(tenant.url, tenant.url + "/oauth/token")
    before = tenant.app.state.tokens_issued
    assert sum(len(p.records) for p in reader.pages()) >= 250
    assert tenant.app.state.tokens_issued == before + 1 and reader.http.client.auth.minted == 1


def test_a_short_lived_token_is_reused_for_most_of_its_life():
    """A 40 s token (shorter than the 60 s refresh margin) still serves many calls: the margin
    is at most half the lifetime, so it is not refreshed before every request."""
    app = rhythm.create_app(token_ttl_seconds=40, page_size=5)
    app.state.tenant.seed(60)
    with server.serve_in_thread(app) as short:
        reader = source(short.url, short.url + "/oauth/token")
        pages = list(reader.pages())
    assert len(pages) >= 12 and reader.http.calls == len(pages)
    assert app.state.tokens_issued == 1 and reader.http.client.auth.minted == 1
