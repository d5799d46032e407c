"""Settings every HTTP connector shares, and the one function that turns them into a caller."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar
from urllib.parse import urlsplit

import httpx
from pydantic import AfterValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from offering_sync.connectors.http.client import HttpCaller, build_client
from offering_sync.connectors.http.retry import RateLimiter, RetryBudget, RetryPolicy
from offering_sync.settings import read_settings

__all__ = ["ConnectionSettings", "HttpConnector", "HttpUrl", "http_url", "make_caller"]


def http_url(value: str) -> str:
    """``value`` (stripped) if it is an absolute ``http(s)://host…`` URL, else a ValueError.

    Without the check, ``127.0.0.1:9101`` reaches httpx and fails at the first request as
    "connection failed", which names no setting; ``read_settings`` turns this error into one
    sentence naming the variable instead (exit status 2).
    """
    text = value.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() in ("http", "https") and parts.hostname:
        return text
    hint = f" (write the scheme: https://{text})" if "://" not in text and text else ""
    raise ValueError(f"not an absolute http:// or https:// URL{hint}")


HttpUrl = Annotated[str, AfterValidator(http_url)]
"""A setting holding a URL requests are sent to: refused at start-up unless http(s)://host."""


class ConnectionSettings(BaseSettings):
    """Timeout, rate limit and retry knobs; each system subclasses with its env prefix."""

    # ``TOKEN=`` in a .env file means "not set" (a subclass's model_config merges with this):
    # an empty credential would otherwise reach the wire as ``Bearer `` instead of being named.
    model_config = SettingsConfigDict(env_ignore_empty=True)

    base_url: HttpUrl = Field(description="the API's base URL (an emulator's, to try things "
                              "out)")
    timeout: float = Field(default=30.0, gt=0, description="seconds to wait for one answer")
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second")
    rate_burst: int = Field(default=5, ge=1,
                            description="requests allowed at once above RATE_LIMIT")
    max_connections: int = Field(default=8, ge=1, description="HTTP connections kept open")
    retries: int = Field(default=6, ge=1, description="attempts per request, first included")
    retry_budget: int = Field(default=1000, ge=0, description="retries a whole run may spend")
    # Issue 17: calls in flight at once, one setting per system. Each system's settings class
    # sets its default from what the vendor documents (or says that it is our reading); 1 is
    # the safe default for a system that says nothing.
    concurrency: int = Field(default=1, ge=1, le=32, description=(
        "calls in flight at once: list pages read together (offset-paged sources), bulk "
        "writes or per-record writes sent together (targets)"))


def make_caller(settings: ConnectionSettings, system: str, auth: httpx.Auth | None,
                retry: RetryPolicy | None = None) -> HttpCaller:
    """A pooled client with this system's auth, limiter and retry policy."""
    client = build_client(settings.base_url, auth=auth, timeout=settings.timeout,
                          max_connections=max(settings.max_connections, settings.concurrency))
    policy = retry or RetryPolicy(attempts=settings.retries,
                                  budget=RetryBudget(total=settings.retry_budget))
    return HttpCaller(client, system, retry=policy,
                      limiter=RateLimiter(settings.rate_limit, settings.rate_burst))


S = TypeVar("S", bound=ConnectionSettings)


class HttpConnector(Generic[S]):
    """What every connector shares: one ``HttpCaller``, its settings, building and closing.

    A subclass names its ``settings_class`` and the ``caller_factory`` that checks credentials
    and builds the caller; it adds only what its vendor needs.
    """

    system: str
    settings_class: ClassVar[type[Any]]

    @staticmethod
    def caller_factory(settings: Any, system: str, retry: RetryPolicy | None) -> HttpCaller:
        """Check the credentials in ``settings`` and build the caller (each system's own)."""
        raise NotImplementedError

    def __init__(self, http: HttpCaller, settings: S) -> None:
        self.http, self.settings = http, settings

    @classmethod
    def from_settings(cls, settings: S | None = None, *,
                      retry: RetryPolicy | None = None) -> Self:
        """Build from the environment, or from the given settings.

        A missing credential is a ``ConfigError`` naming the setting.
        """
        chosen = settings if settings is not None else read_settings(cls.settings_class)
        return cls(cls.caller_factory(chosen, cls.system, retry), chosen)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.client.close()
