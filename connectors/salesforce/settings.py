"""``OFFERING_SYNC_SALESFORCE_*``: where the org logs in, how, and what the sync may spend.

The login URL (production ``https://login.salesforce.com``, sandbox ``https://test.salesforce.com``
or the org's My Domain) is where tokens come from; every API call goes to the ``instance_url``
the token response names. ``OFFERING_SYNC_SALESFORCE_BASE_URL`` (the one URL of earlier
versions) still works: it becomes the login URL, and the instance URL of a pasted token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from offering_sync.connectors.http.settings import ConnectionSettings, HttpUrl, http_url
from offering_sync.settings import read_settings

__all__ = ["DEFAULT_BATCH", "PRODUCTION_LOGIN", "SANDBOX_LOGIN", "SalesforceSettings", "env",
           "mapping_settings"]

PRODUCTION_LOGIN = "https://login.salesforce.com"
SANDBOX_LOGIN = "https://test.salesforce.com"
# No maximum is published for the course-offering resource; 200 is the sObject Collections limit.
DEFAULT_BATCH = 200
Flow = Literal["token", "jwt", "refresh_token", "client_credentials"]


def env(name: str) -> str:
    """The environment variable of setting ``name``."""
    return "OFFERING_SYNC_SALESFORCE_" + name.upper()


class SalesforceSettings(ConnectionSettings):
    """``OFFERING_SYNC_SALESFORCE_*``: the org's login URL, credentials and limits."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_SALESFORCE_", env_file=".env",
                                      extra="ignore")

    login_url: HttpUrl = Field(default=PRODUCTION_LOGIN, description=(
        "where tokens come from: https://login.salesforce.com, https://test.salesforce.com "
        "(sandboxes) or your My Domain (https://x.my.salesforce.com)"))
    instance_url: HttpUrl | None = Field(default=None, description=(
        "the org's API host; needed only with a pasted TOKEN (OAuth flows use the instance_url "
        "the token response names)"))
    base_url: str = Field(default="", description="earlier name of LOGIN_URL (still read)")
    client_id: str | None = Field(default=None, description="the connected app's consumer key")
    client_secret: SecretStr | None = Field(default=None,
                                            description="client credentials / refresh flows")
    username: str | None = Field(default=None, description="JWT flow: the integration user")
    private_key: SecretStr | None = Field(default=None,
                                          description="JWT flow: the PEM private key itself")
    private_key_file: Path | None = Field(default=None,
                                          description="JWT flow: a file holding the PEM key")
    jwt_audience: str | None = Field(default=None, description=(
        "JWT flow: the assertion's aud (default: the login URL; for a My Domain login URL "
        "login.salesforce.com, or test.salesforce.com for a sandbox domain)"))
    refresh_token: SecretStr | None = Field(default=None,
                                            description="refresh-token flow: the refresh token")
    token: SecretStr | None = Field(default=None,
                                    description="a pasted access token (with INSTANCE_URL)")
    api_version: str = "66.0"
    external_id_field: str = "OfferingSyncExternalId__c"
    batch_size: int = Field(default=DEFAULT_BATCH, ge=1, le=10_000)
    # Salesforce does not cap concurrent requests shorter than 20 s; it allows at most 25
    # long-running (20 s or more) at once in production orgs and sandboxes and 5 in Developer
    # Edition and trial orgs (App Limits Cheatsheet, "API Request Limits and Allocations").
    # 5 holds in every org even if each bulk POST ran long. The daily quota counts requests,
    # which concurrency does not change.
    concurrency: int = Field(default=5, ge=1, le=25, description=(
        "bulk POSTs in flight at once (at most 5 long-running requests in Developer Edition "
        "orgs, 25 elsewhere)"))
    timeout: float = 60.0
    quota_stop_ratio: float = Field(default=0.95, gt=0, le=1,
                                    description="stop cleanly once api-usage passes this share")
    lookup_max_rows: int = Field(default=50_000, ge=1, description=(
        "most rows one mapping lookup may read from the org (one query per lookup per run)"))

    @field_validator("base_url")
    @classmethod
    def _legacy_url(cls, value: str) -> str:
        return http_url(value) if value.strip() else ""  # "": the earlier name is not used

    @model_validator(mode="after")
    def _urls(self) -> SalesforceSettings:
        # Written through __dict__ so model_fields_set keeps saying what the user set.
        legacy = self.base_url.strip()
        values = self.__dict__
        if legacy and "login_url" not in self.model_fields_set:
            values["login_url"] = legacy
        if legacy and self.instance_url is None and self.token is not None:
            values["instance_url"] = legacy
        values["login_url"] = self.login_url.rstrip("/")
        if self.instance_url:
            values["instance_url"] = self.instance_url.rstrip("/")
        # The HTTP client starts at the instance when known; OAuth flows move to the one the
        # token response names.
        values["base_url"] = self.instance_url or self.login_url
        return self

    @property
    def api_url_setting(self) -> str:
        """The variable the API host came from, as the user wrote it (for "check …" messages)."""
        legacy = "base_url" in self.model_fields_set
        if self.instance_url:
            return env("instance_url" if "instance_url" in self.model_fields_set or not legacy
                       else "base_url")
        return self.login_url_setting

    @property
    def login_url_setting(self) -> str:
        """The variable the login URL (where tokens come from) came from, as the user wrote it."""
        legacy = "base_url" in self.model_fields_set and "login_url" not in self.model_fields_set
        return env("base_url" if legacy else "login_url")

    @property
    def flow(self) -> Flow | None:
        """Which way to authenticate, from the credentials given (first match wins)."""
        if self.token is not None:
            return "token"
        if self.private_key is not None or self.private_key_file is not None:
            return "jwt"
        if self.refresh_token is not None:
            return "refresh_token"
        if self.client_secret is not None:
            return "client_credentials"
        return None

    @property
    def token_url(self) -> str:
        """The login URL's token endpoint."""
        return self.login_url + "/services/oauth2/token"

    @property
    def audience(self) -> str:
        """The ``aud`` of a JWT bearer assertion (our reading of the JWT flow help page).

        The page lists login.salesforce.com and test.salesforce.com (and Experience Cloud sites):
        an assertion posted to a My Domain still names one of them.
        """
        if self.jwt_audience:
            return self.jwt_audience.rstrip("/")
        host = (urlsplit(self.login_url).hostname or "").lower()
        if host.endswith(".my.salesforce.com"):
            return SANDBOX_LOGIN if ".sandbox." in host else PRODUCTION_LOGIN
        return self.login_url


def mapping_settings(settings: SalesforceSettings | None = None) -> dict[str, Any]:
    """Values the Salesforce mapping files may read with ``setting:``."""
    settings = settings or read_settings(SalesforceSettings)
    return {"salesforce.external_id_field": settings.external_id_field}
