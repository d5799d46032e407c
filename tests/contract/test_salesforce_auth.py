"""Connecting a Salesforce org: each OAuth flow, login host apart from the instance, and every
refusal said as the setting to fix. The emulator serves one org on two loopback ports (login
host and instance), so a client that kept calling the login host would be refused."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from offering_sync.connectors.http.auth import (
    CachedToken,
    MemoryTokenCache,
    OAuth2ClientCredentials,
    cache_key,
)
from offering_sync.connectors.salesforce import (
    SalesforceSettings,
    SalesforceSource,
    SalesforceTarget,
    build_auth,
)
from offering_sync.emulators import salesforce
from offering_sync.errors import ConfigError, Rejected, Unauthorized
from tests.conftest import fast_retry
from tests.contract.test_salesforce import payload
from tests.systems import write


def _key_pair():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "offering-sync test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, cert.public_bytes(serialization.Encoding.PEM).decode()


PRIVATE_KEY, CERTIFICATE = _key_pair()
OTHER_KEY, _ = _key_pair()


@pytest.fixture(scope="module")
def org():
    """One org, JWT enabled, served on a login port and an instance port."""
    app = salesforce.create_app(jwt_certificate=CERTIFICATE)
    login, instance = salesforce.serve_org(app)
    yield app, login.url, instance.url
    login.stop()
    instance.stop()


def settings(login_url: str, **values) -> SalesforceSettings:
    return SalesforceSettings(login_url=login_url, client_id=salesforce.DEMO_CLIENT_ID,
                              **values)


def target(cfg: SalesforceSettings) -> SalesforceTarget:
    return SalesforceTarget.from_settings(cfg, retry=fast_retry())


def loads_one(cfg: SalesforceSettings, app, n: int) -> SalesforceTarget:
    posts = app.state.posts
    sf = target(cfg)
    (result,) = write(sf, [payload(n)], overwrite=False)
    assert result.ok and app.state.posts == posts + 1
    return sf


def test_client_credentials_token_from_the_login_host_and_calls_to_the_instance(org):
    app, login, instance = org
    sf = loads_one(settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET)),
                   app, 1)
    auth = sf.http.client.auth
    assert auth.instance_url == instance != login
    assert auth.minted == 1


def test_a_data_call_sent_to_the_login_host_is_refused_by_the_org(org):
    app, login, _ = org
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    auth = build_auth(cfg)
    auth.use_instance_url = False  # a client that ignores instance_url
    sf = target(cfg)
    sf.http.client.auth = auth
    with pytest.raises(Unauthorized, match="INVALID_SESSION_ID"):
        write(sf, [payload(2)], overwrite=False)


def test_jwt_bearer_flow_with_the_key_as_text_and_as_a_file(org, tmp_path):
    app, login, instance = org
    cfg = settings(login, username=salesforce.DEMO_USERNAME, private_key=SecretStr(PRIVATE_KEY))
    assert cfg.flow == "jwt" and cfg.audience == login
    sf = loads_one(cfg, app, 3)
    assert sf.http.client.auth.instance_url == instance
    key_file = tmp_path / "server.key"
    key_file.write_text(PRIVATE_KEY)
    loads_one(settings(login, username=salesforce.DEMO_USERNAME, private_key_file=key_file),
              app, 4)


def test_refresh_token_flow(org):
    app, login, instance = org
    sf = loads_one(settings(login, refresh_token=SecretStr(salesforce.DEMO_REFRESH_TOKEN)),
                   app, 5)
    assert sf.http.client.auth.instance_url == instance


def test_a_pasted_token_needs_the_instance_url():
    with pytest.raises(ConfigError, match="OFFERING_SYNC_SALESFORCE_INSTANCE_URL"):
        build_auth(SalesforceSettings(token=SecretStr("00Dx")))


def test_the_old_base_url_setting_still_works(org, monkeypatch):
    app, login, _ = org
    monkeypatch.setenv("OFFERING_SYNC_SALESFORCE_BASE_URL", login)
    cfg = SalesforceSettings(client_id=salesforce.DEMO_CLIENT_ID,
                             client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    assert cfg.login_url == login
    loads_one(cfg, app, 6)


@pytest.mark.parametrize("login_url", ["https://login.salesforce.com",
                                       "https://test.salesforce.com/"])
def test_client_credentials_on_login_or_test_salesforce_com_is_refused_before_any_call(login_url):
    cfg = SalesforceSettings(login_url=login_url, client_id="app",
                             client_secret=SecretStr("s3cret-value"))
    with pytest.raises(ConfigError) as info:
        build_auth(cfg)
    message = str(info.value)
    assert "does not accept the client credentials flow" in message
    assert "OFFERING_SYNC_SALESFORCE_LOGIN_URL" in message and "My Domain" in message
    assert "s3cret-value" not in message


@pytest.mark.parametrize(("login_url", "audience"), [
    ("https://login.salesforce.com", "https://login.salesforce.com"),
    ("https://test.salesforce.com", "https://test.salesforce.com"),
    ("https://uni.my.salesforce.com", "https://login.salesforce.com"),
    ("https://uni--uat.sandbox.my.salesforce.com", "https://test.salesforce.com"),
])
def test_sandbox_and_production_jwt_audiences(login_url, audience):
    cfg = SalesforceSettings(login_url=login_url, client_id="app", username="u@x.example",
                             private_key=SecretStr(PRIVATE_KEY))
    assert cfg.audience == audience
    assert cfg.token_url == login_url.rstrip("/") + "/services/oauth2/token"
    assert build_auth(cfg).token_request().url.host == login_url.split("//")[1].rstrip("/")


def test_a_sandbox_org_refuses_a_production_audience():
    app = salesforce.create_app(jwt_certificate=CERTIFICATE,
                                jwt_audience="https://test.salesforce.com")
    login, instance = salesforce.serve_org(app)
    try:
        cfg = settings(login.url, username=salesforce.DEMO_USERNAME,
                       private_key=SecretStr(PRIVATE_KEY))
        with pytest.raises(Unauthorized) as info:
            write(target(cfg), [payload(1)], overwrite=False)
        assert "OFFERING_SYNC_SALESFORCE_LOGIN_URL" in str(info.value)
        assert "audience is invalid" in str(info.value)
        cfg = settings(login.url, username=salesforce.DEMO_USERNAME,
                       private_key=SecretStr(PRIVATE_KEY),
                       jwt_audience="https://test.salesforce.com")
        loads_one(cfg, app, 1)
    finally:
        login.stop()
        instance.stop()


@pytest.mark.parametrize(("values", "expected"), [
    ({"client_secret": SecretStr("wrong-secret-9f")},
     "Salesforce refused OFFERING_SYNC_SALESFORCE_CLIENT_SECRET at {login}/services/oauth2/token: "
     "invalid_client (invalid client credentials)"),
    ({"username": salesforce.DEMO_USERNAME, "private_key": SecretStr(OTHER_KEY)},
     "Salesforce refused OFFERING_SYNC_SALESFORCE_PRIVATE_KEY (the signature does not match the "
     "app's certificate) at {login}/services/oauth2/token: invalid_grant (invalid assertion)"),
    ({"username": "someone@else.example", "private_key": SecretStr(PRIVATE_KEY)},
     "Salesforce refused OFFERING_SYNC_SALESFORCE_USERNAME (the user must be pre-authorized"),
    ({"refresh_token": SecretStr("5Aep-expired-refresh")},
     "Salesforce refused OFFERING_SYNC_SALESFORCE_REFRESH_TOKEN (expired or revoked: approve the "
     "app again) at {login}/services/oauth2/token: invalid_grant (expired access/refresh token)"),
])
def test_each_refusal_names_the_setting_and_the_token_url(org, values, expected):
    app, login, _ = org
    posts = app.state.posts
    with pytest.raises(Unauthorized) as info:
        write(target(settings(login, **values)), [payload(1)], overwrite=False)
    message = str(info.value)
    assert expected.format(login=login) in message
    for secret in values.values():
        if isinstance(secret, SecretStr):
            assert secret.get_secret_value()[-12:] not in message
    assert app.state.posts == posts


def test_a_wrong_consumer_key_names_the_client_id(org):
    _, login, _ = org
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    cfg.client_id = "not-our-app"
    with pytest.raises(Unauthorized, match="refused OFFERING_SYNC_SALESFORCE_CLIENT_ID at .*"
                                           "invalid_client_id"):
        write(target(cfg), [payload(1)], overwrite=False)


def test_a_revoked_refresh_token_is_a_token_error(org):
    app = salesforce.create_app()
    login, instance = salesforce.serve_org(app)
    try:
        cfg = settings(login.url, refresh_token=SecretStr(salesforce.DEMO_REFRESH_TOKEN))
        loads_one(cfg, app, 1)
        app.state.refresh_tokens.clear()
        with pytest.raises(Unauthorized, match="expired access/refresh token"):
            write(target(cfg), [payload(2)], overwrite=False)
    finally:
        login.stop()
        instance.stop()


def test_an_unreachable_login_url_names_the_setting():
    cfg = settings("http://127.0.0.1:9", client_secret=SecretStr("x"))
    with pytest.raises(ConfigError) as info:
        write(target(cfg), [payload(1)], overwrite=False)
    assert "cannot reach salesforce at http://127.0.0.1:9/services/oauth2/token" in str(info.value)
    assert "check OFFERING_SYNC_SALESFORCE_LOGIN_URL" in str(info.value)


def test_a_bad_private_key_is_a_config_error_naming_the_setting(tmp_path):
    bad = tmp_path / "key.pem"
    bad.write_text("not a key")
    with pytest.raises(ConfigError, match="OFFERING_SYNC_SALESFORCE_PRIVATE_KEY_FILE is not an "
                                          "unencrypted PEM private key"):
        build_auth(SalesforceSettings(login_url="https://x.my.salesforce.com", client_id="a",
                                      username="u", private_key_file=bad))
    with pytest.raises(ConfigError, match="cannot read OFFERING_SYNC_SALESFORCE_PRIVATE_KEY_FILE"):
        build_auth(SalesforceSettings(login_url="https://x.my.salesforce.com", client_id="a",
                                      username="u", private_key_file=tmp_path / "missing"))
    with pytest.raises(ConfigError, match="JWT bearer flow needs "
                                          "OFFERING_SYNC_SALESFORCE_USERNAME"):
        build_auth(SalesforceSettings(client_id="a", private_key=SecretStr(PRIVATE_KEY)))


# -- the token cache ----------------------------------------------------------------------------

def test_a_cached_token_is_used_without_asking_for_a_new_one(org):
    app, login, _ = org
    cache = MemoryTokenCache()
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    first = target(cfg)
    first.http.client.auth = build_auth(cfg, cache)
    write(first, [payload(20)], overwrite=False)
    issued = app.state.tokens_issued
    second = target(cfg)
    second.http.client.auth = build_auth(cfg, cache)  # a later run with a persistent cache
    (result,) = write(second, [payload(21)], overwrite=False)
    assert result.ok and app.state.tokens_issued == issued
    assert second.http.client.auth.minted == 0 and len(cache) == 1


def test_a_401_discards_the_cached_token_and_mints_exactly_one(org):
    app, login, _ = org
    cache = MemoryTokenCache()
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    auth = build_auth(cfg, cache)
    cache.put(auth.key, CachedToken(SecretStr("00D-revoked-session"), None,
                                    {"instance_url": org[2]}))
    sf = target(cfg)
    sf.http.client.auth = auth
    (result,) = write(sf, [payload(22)], overwrite=False)
    assert result.ok and auth.minted == 1
    assert cache.get(auth.key).access_token.get_secret_value() != "00D-revoked-session"


def test_an_expired_cached_token_is_not_sent(org):
    app, login, _ = org
    cache = MemoryTokenCache()
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    auth = build_auth(cfg, cache)
    soon = datetime.now(UTC) + timedelta(seconds=30)  # inside the 60 s safety margin
    cache.put(auth.key, CachedToken(SecretStr("00D-nearly-expired"), soon, {}))
    assert auth.current() is None


def test_cache_keys_name_no_secret_and_differ_by_grant_and_subject():
    key = cache_key("https://x/services/oauth2/token", "app", "client_credentials")
    assert key.startswith("oauth2:") and "app" not in key
    assert key != cache_key("https://x/services/oauth2/token", "app", "refresh_token")
    auth = OAuth2ClientCredentials("https://x/t", "app", SecretStr("s3cret"))
    assert "s3cret" not in auth.key


# -- paging links stay on the instance (issue 9.12) -----------------------------------------------

def test_a_paging_link_to_another_host_never_gets_the_token(org):
    app, login, instance = org
    salesforce.seed(app, 5)
    app.state.query_page_size = 2
    cfg = settings(login, client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET))
    source = SalesforceSource.from_settings(cfg, retry=fast_retry())
    assert sum(len(p.records) for p in source.pages()) == len(app.state.org.offerings)
    app.state.settings["next_url_prefix"] = "http://127.0.0.1:9"  # another port
    try:
        with pytest.raises(Rejected, match="not at the org's instance .* never sent to another"):
            list(SalesforceSource.from_settings(cfg, retry=fast_retry()).pages())
        with pytest.raises(Rejected, match="paging link points at https://evil.example"):
            list(source.pages(resume="https://evil.example/services/data/v66.0/query/01g-2"))
    finally:
        app.state.settings["next_url_prefix"] = ""
        app.state.query_page_size = 2000
    same_host = instance + "/services/data/v66.0/query/"
    with pytest.raises(Rejected, match="INVALID_QUERY_LOCATOR"):
        list(source.pages(resume=same_host + "01g000000000000-2"))
