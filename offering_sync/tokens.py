"""Tokens kept between requests and runs: what a cache holds and the protocol it follows.

Vendor-free, so the state store can keep tokens (encrypted) without importing any connector;
the OAuth parts in ``offering_sync.connectors.http.auth`` read and write them through
``TokenCache``. A key is derived from the token URL, client id, grant and subject, never from a
secret.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from pydantic import SecretStr

__all__ = ["CachedToken", "MemoryTokenCache", "TokenCache", "cache_key", "default_token_cache",
           "set_token_cache"]


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and what its token response said besides it (never another secret)."""

    access_token: SecretStr
    expires_at: datetime | None = None
    """When the token endpoint said it expires; ``None`` when it did not say (Salesforce)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Non-secret fields of the token response, e.g. ``instance_url``, ``token_type``."""
    issued_at: datetime | None = None
    """When it was minted; with ``expires_at`` it gives the lifetime that bounds the margin."""

    @property
    def lifetime(self) -> timedelta | None:
        """How long the token endpoint said it lasts, if known."""
        if self.expires_at is None:
            return None
        if self.issued_at is not None:
            return self.expires_at - self.issued_at
        said = self.extra.get("expires_in")  # entries kept before issued_at was
        if isinstance(said, int | float) and not isinstance(said, bool) and said >= 0:
            return timedelta(seconds=float(said))
        return None

    def usable(self, margin: timedelta, now: datetime | None = None) -> bool:
        """Whether it is still worth sending: unexpired with a margin to spare, or no expiry.

        The margin is ``margin``, but at most half the token's lifetime: a token that lasts
        40 s is refreshed 20 s before it expires, not before every request.
        """
        if self.expires_at is None:
            return True
        lifetime = self.lifetime
        if lifetime is not None:
            margin = min(margin, lifetime / 2)
        return (now or datetime.now(UTC)) + margin < self.expires_at


@runtime_checkable
class TokenCache(Protocol):
    """Where minted tokens are kept between requests, and (persistent ones) between runs."""

    def get(self, key: str) -> CachedToken | None:
        """The token stored under ``key``, or ``None``."""
        ...

    def put(self, key: str, token: CachedToken) -> None:
        """Store ``token`` under ``key``, replacing what was there."""
        ...

    def discard(self, key: str) -> None:
        """Forget the token under ``key`` (the API refused it)."""
        ...


class MemoryTokenCache:
    """A ``TokenCache`` in a dict: one process, thread-safe. Tests and single runs use it."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> CachedToken | None:
        """The token stored under ``key``, or ``None``."""
        with self._lock:
            return self._tokens.get(key)

    def put(self, key: str, token: CachedToken) -> None:
        """Store ``token`` under ``key``."""
        with self._lock:
            self._tokens[key] = token

    def discard(self, key: str) -> None:
        """Forget the token under ``key``."""
        with self._lock:
            self._tokens.pop(key, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tokens)


def cache_key(token_url: str, client_id: str, grant: str, subject: str = "") -> str:
    """A cache key from who asks where for what; a hash, so the key itself reveals nothing."""
    material = "\n".join((token_url.rstrip("/"), client_id, grant, subject))
    return "oauth2:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


_default_cache: TokenCache | None = None


def set_token_cache(cache: TokenCache | None) -> None:
    """Make ``cache`` the one every OAuth part built from now on uses (``None``: per object).

    The composition root sets the state store's persistent cache here once, before it builds
    connectors, so tokens outlive a run without every connector's factory passing it along.
    """
    global _default_cache
    _default_cache = cache


def default_token_cache() -> TokenCache:
    """The cache set with ``set_token_cache``, else a fresh in-memory one."""
    return _default_cache if _default_cache is not None else MemoryTokenCache()
