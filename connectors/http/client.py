"""The one place that talks HTTP: builds clients, sends requests, turns statuses into our errors.

``HttpCaller.send`` rate-limits, retries what is safe to retry, and translates httpx exceptions
and vendor statuses into the ``ConnectorError`` tree with the vendor's (redacted) message.
Connectors pass a ``classify`` hook only for a vendor's quirks (e.g. Salesforce's 403 quota).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from offering_sync.connectors.http.retry import RateLimiter, RetryPolicy
from offering_sync.errors import (
    ConfigError,
    ConnectorError,
    RateLimited,
    Rejected,
    TransientError,
    Unauthorized,
)
from offering_sync.redact import redact

__all__ = ["HttpCaller", "build_client", "parse_retry_after"]

Classify = Callable[[httpx.Response, str], ConnectorError | None]
_MESSAGE_CHARS = 1000


def build_client(base_url: str, *, auth: httpx.Auth | None = None, timeout: float = 30.0,
                 max_connections: int = 8, http2: bool = False) -> httpx.Client:
    """A pooled keep-alive client for one system."""
    return httpx.Client(
        base_url=base_url.rstrip("/") + "/", auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections),
        headers={"Accept": "application/json", "User-Agent": "offering-sync/0.1"},
        http2=http2,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class HttpCaller:
    """Sends requests for one system with its limiter, retry policy and quirks."""

    client: httpx.Client
    system: str
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    limiter: RateLimiter = field(default_factory=lambda: RateLimiter(None))
    classify: Classify | None = None
    base_setting: str = ""
    """The setting the client's base URL came from (default ``OFFERING_SYNC_<SYSTEM>_BASE_URL``)."""
    calls: int = 0
    answered: int = 0

    def send(self, method: str, url: str, *, idempotent: bool, record: str | None = None,
             **kwargs: Any) -> httpx.Response:
        """Send one request; retried on transient failure only when ``idempotent``.

        Raises:
            ConnectorError: a subclass saying what the caller should do.
        """
        def once() -> httpx.Response:
            return self._send_once(method, url, record, kwargs)

        if idempotent:
            return self.retry.call(once)
        return once()

    def json(self, response: httpx.Response, record: str | None = None) -> Any:
        """The body as JSON; a truncated or garbled body counts as a transient failure."""
        try:
            return json.loads(response.content)
        except ValueError:
            raise TransientError("response body is not valid JSON (cut off?)",
                                 system=self.system, status=response.status_code,
                                 vendor_message=redact(response.text[:200]),
                                 record=record) from None

    def _send_once(self, method: str, url: str, record: str | None,
                   kwargs: dict[str, Any]) -> httpx.Response:
        self.limiter.acquire()
        self.calls += 1
        try:
            response = self.client.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TransientError(f"timed out ({exc.__class__.__name__})", system=self.system,
                                 record=record) from None
        except httpx.ConnectError as exc:
            if not self.answered:  # never reached at all: a setting to fix, not a blip
                where, setting = self._origin_of(exc)
                raise ConfigError(
                    f"cannot reach {self.system} at {where} ({redact(str(exc))[:120]}); check "
                    f"{setting}") from None
            raise TransientError(f"connection failed: {redact(str(exc))[:200]}",
                                 system=self.system, record=record) from None
        except httpx.TransportError as exc:
            raise TransientError(f"connection failed: {redact(str(exc))[:200]}",
                                 system=self.system, record=record) from None
        self.answered += 1
        if response.is_success:
            return response
        raise self._error(response, record)

    def _origin_of(self, exc: httpx.RequestError) -> tuple[str, str]:
        """The URL that could not be reached and the setting it came from.

        A request an auth part made itself (a token request) names its own setting in the
        ``offering_sync.setting`` extension; anything else came from the base URL.
        """
        try:
            request: httpx.Request | None = exc.request
        except RuntimeError:
            request = None
        setting = request.extensions.get("offering_sync.setting") if request else None
        if request is not None and setting:
            return str(request.url.copy_with(query=None)), str(setting)
        return (str(self.client.base_url).rstrip("/"),
                self.base_setting or f"OFFERING_SYNC_{self.system.upper()}_BASE_URL")

    def _error(self, response: httpx.Response, record: str | None) -> ConnectorError:
        message = redact(response.text[:_MESSAGE_CHARS])
        if self.classify is not None:
            special = self.classify(response, message)
            if special is not None:
                return special
        status = response.status_code
        common: dict[str, Any] = {"system": self.system, "status": status,
                                  "vendor_message": message, "record": record}
        what = f"{response.request.method} {response.request.url.path}"
        if status == 429:
            return RateLimited(f"{what} was rate limited",
                               retry_after=parse_retry_after(response.headers.get("Retry-After")),
                               **common)
        if status >= 500 or status == 408:
            return TransientError(f"{what} failed on the server side", **common)
        if status in (401, 403):
            return Unauthorized(f"{what} refused our credentials; check the token or client "
                                "id/secret", **common)
        return Rejected(f"{what} was rejected", **common)
