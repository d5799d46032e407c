"""From settings to an authenticated caller: which OAuth flow, which login URL, what is missing.

Flows (Salesforce help, "OAuth Authorization Flows"): client credentials (the connected app's
run-as user; Salesforce accepts it only on a My Domain URL, not on login/test.salesforce.com),
the JWT bearer flow (a certificate uploaded to the connected app, the integration user
pre-authorized), and the refresh-token flow (a refresh token from a one-time approval). A pasted
access token needs the instance URL it belongs to. Every credential problem is one
``ConfigError`` naming the setting to fix, before any request.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from offering_sync.connectors.http.auth import (
    HeaderToken,
    OAuth2ClientCredentials,
    OAuth2JwtBearer,
    OAuth2RefreshToken,
    SettingNames,
    TokenCache,
    default_token_cache,
)
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.http.settings import make_caller
from offering_sync.connectors.salesforce.settings import SalesforceSettings, env
from offering_sync.errors import ConfigError, ConnectorError, QuotaExhausted
from offering_sync.plugin import ApiCall

__all__ = ["TOKEN", "build_auth", "classify", "make_salesforce_caller"]

TOKEN = ApiCall("POST", "{login_url}/services/oauth2/token",
                doc="chatterapi quickstart_connecting; help: OAuth JWT bearer and refresh flows",
                note="client credentials, JWT bearer or refresh token; answers instance_url")
_NOT_MY_DOMAIN = {"login.salesforce.com", "test.salesforce.com"}
FLOW_NAMES = {"token": "pasted access token", "jwt": "JWT bearer",
              "refresh_token": "refresh token", "client_credentials": "client credentials"}


def _names(settings: SalesforceSettings, credential: str, user: str | None = None,
           ) -> SettingNames:
    return SettingNames("Salesforce", settings.login_url_setting, env("client_id"),
                        env(credential), env(user) if user else None, env("client_secret"))


def _require(settings: SalesforceSettings, flow: str, *names: str) -> None:
    missing = [env(n) for n in names if getattr(settings, n) in (None, "")]
    if missing:
        raise ConfigError(f"the Salesforce {FLOW_NAMES[flow]} flow needs {' and '.join(missing)}")


def _private_key(settings: SalesforceSettings) -> SecretStr:
    if settings.private_key is not None:
        return settings.private_key
    path = settings.private_key_file
    assert path is not None
    try:
        return SecretStr(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {env('private_key_file')} {path}: "
                          f"{exc.strerror}") from None


def build_auth(settings: SalesforceSettings, cache: TokenCache | None = None) -> httpx.Auth:
    """The auth part for the flow the settings choose, or a ConfigError naming what is missing."""
    flow = settings.flow
    common = {"system": "salesforce",
              "cache": cache if cache is not None else default_token_cache(),
              "use_instance_url": True}
    if flow == "token":
        assert settings.token is not None
        if not settings.instance_url:
            raise ConfigError(f"a pasted {env('token')} needs {env('instance_url')}: the org's "
                              "API host, e.g. https://yourdomain.my.salesforce.com")
        return HeaderToken(settings.token)
    if flow == "jwt":
        _require(settings, flow, "client_id", "username")
        assert settings.client_id and settings.username
        key_setting = "private_key" if settings.private_key is not None else "private_key_file"
        return OAuth2JwtBearer(settings.token_url, settings.client_id, settings.username,
                               _private_key(settings), settings.audience,
                               names=_names(settings, key_setting, "username"), **common)
    if flow == "refresh_token":
        _require(settings, flow, "client_id")
        assert settings.client_id and settings.refresh_token is not None
        return OAuth2RefreshToken(settings.token_url, settings.client_id, settings.refresh_token,
                                  settings.client_secret, names=_names(settings, "refresh_token"),
                                  **common)
    if flow == "client_credentials":
        _require(settings, flow, "client_id")
        assert settings.client_id and settings.client_secret is not None
        host = (urlsplit(settings.login_url).hostname or "").lower()
        if host in _NOT_MY_DOMAIN:
            raise ConfigError(
                f"Salesforce does not accept the client credentials flow at "
                f"{settings.login_url}: set {env('login_url')} to your org's My Domain URL "
                "(Setup → My Domain, e.g. https://yourdomain.my.salesforce.com, or "
                "https://yourdomain--sandbox.sandbox.my.salesforce.com for a sandbox)")
        return OAuth2ClientCredentials(settings.token_url, settings.client_id,
                                       settings.client_secret,
                                       names=_names(settings, "client_secret"),
                                       **common)
    raise ConfigError(
        "Salesforce credentials are missing: set one of "
        f"{env('client_id')} + {env('client_secret')} (client credentials), "
        f"{env('client_id')} + {env('username')} + {env('private_key_file')} (JWT bearer), "
        f"{env('client_id')} + {env('refresh_token')} (refresh token), or "
        f"{env('token')} + {env('instance_url')}")


def classify(response: httpx.Response, message: str) -> ConnectorError | None:
    """Salesforce's quirk: an exhausted daily quota is a 403, not a 429 (api_rest errorcodes)."""
    if response.status_code == 403 and "REQUEST_LIMIT_EXCEEDED" in message:
        return QuotaExhausted("the org's API request limit is used up; the run stops and "
                              "resumes on the next schedule", system="salesforce",
                              status=403, vendor_message=message)
    return None


def make_salesforce_caller(settings: SalesforceSettings, system: str,
                           retry: RetryPolicy | None) -> HttpCaller:
    """The caller every Salesforce part shares: the flow's auth, the quota quirk."""
    caller = make_caller(settings, system, build_auth(settings), retry)
    caller.classify = classify
    caller.base_setting = settings.api_url_setting
    return caller
