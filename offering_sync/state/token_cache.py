"""Vendor tokens kept across runs and processes in the state store, never in plain text.

Rhythm lets a tenant mint 1,000 M2M tokens a month across all its integrations and each lasts
24 h (tutorials/concepts): a token per run on a 15-minute schedule would exhaust the quota in
ten days. Every OAuth part binds its cache key to its own credential; the token is stored
encrypted (Fernet) with a key derived from that credential (HKDF), so the database alone never
yields a usable token, and a rotated secret simply makes the old entry unreadable (a new token
is minted). Mints are counted per system for the run summary.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from datetime import UTC, datetime, timedelta

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from offering_sync.errors import StateError
from offering_sync.state.store import StateStore
from offering_sync.tokens import CachedToken

__all__ = ["StoreTokenCache"]

log = logging.getLogger("offering_sync.tokens")
_SALT = b"offering-sync token cache v1"


class StoreTokenCache:
    """A ``TokenCache`` in the state store; entries whose credential was never bound stay local."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self._ciphers: dict[str, tuple[Fernet, str]] = {}
        self._local: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def bind(self, key: str, secret: bytes, system: str = "") -> None:
        """Tie ``key`` to the credential its tokens are encrypted with."""
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT,
                       info=key.encode()).derive(secret)
        with self._lock:
            self._ciphers[key] = (Fernet(base64.urlsafe_b64encode(derived)), system)

    def get(self, key: str) -> CachedToken | None:
        """The token for ``key``: this process's copy, else the stored one decrypted."""
        with self._lock:
            local = self._local.get(key)
            cipher = self._ciphers.get(key)
        if local is not None or cipher is None:
            return local
        try:
            stored = self.store.get_token(key)
        except StateError as exc:
            log.warning("token cache unavailable (%s); minting a new token", exc)
            return None
        if stored is None:
            return None
        try:
            data = json.loads(cipher[0].decrypt(stored[0].encode()))
        except (InvalidToken, ValueError):
            return None  # another credential encrypted it (rotated secret): mint anew
        token = CachedToken(SecretStr(data["access_token"]), stored[1], data.get("extra", {}),
                            issued_at=_instant(data.get("issued_at")))
        with self._lock:
            self._local[key] = token
        return token

    def put(self, key: str, token: CachedToken) -> None:
        """Keep a newly minted token here and, encrypted, in the store; count the mint."""
        with self._lock:
            self._local[key] = token
            cipher = self._ciphers.get(key)
        if cipher is None:
            return
        issued = token.issued_at.isoformat() if token.issued_at is not None else None
        body = json.dumps({"access_token": token.access_token.get_secret_value(),
                           "extra": dict(token.extra), "issued_at": issued}, default=str)
        try:
            self.store.put_token(key, cipher[0].encrypt(body.encode()).decode(),
                                 token.expires_at)
            self.store.record_mint(cipher[1] or "oauth2", key)
        except StateError as exc:
            log.warning("could not keep the token for later runs (%s)", exc)

    def discard(self, key: str) -> None:
        """Forget the token everywhere (the API refused it)."""
        with self._lock:
            self._local.pop(key, None)
        try:
            self.store.drop_token(key)
        except StateError as exc:
            log.warning("could not forget a refused token (%s)", exc)

    def minted_today(self, system: str) -> int:
        """Tokens minted for ``system`` since midnight UTC (all processes sharing the store)."""
        start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return self.store.mints_since(system, start)

    def minted_last_30_days(self, system: str) -> int:
        """Tokens minted for ``system`` in the last 30 days, against a monthly quota."""
        return self.store.mints_since(system, datetime.now(UTC) - timedelta(days=30))


def _instant(value: object) -> datetime | None:
    """An ISO 8601 instant kept in a token entry (``None`` in entries that predate it)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
