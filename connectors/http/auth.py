"""httpx auth parts: a static header token, and OAuth 2.0 grants that cache and refresh tokens.

Three grants orgs use for unattended integrations, each one class over ``OAuth2Token``:
client credentials (RFC 6749 §4.4), the JWT bearer assertion (RFC 7523; the assertion is signed
with PyJWT) and the refresh-token grant (RFC 6749 §6). What they share lives in the base class:

- a token is minted once and reused; a ``TokenCache`` (any object with ``get``/``put``/
  ``discard``) keeps it across runs, keyed by token URL, client id, grant and subject, never by a
  secret; it is refreshed ``margin`` (60 s) before it expires, or at half its life when it
  lasts less than two margins; a 401 on an API call discards it and mints exactly one new token;
- ``minted`` counts tokens obtained from the token endpoint (a run summary can show it: Rhythm
  caps tokens per month);
- a refusal by the token endpoint (``invalid_client``, ``invalid_grant``,
  ``unsupported_grant_type``, Auth0's ``access_denied``) raises ``Unauthorized`` in one sentence
  that names the setting that was refused and the token URL, never the secret; a 404 or 405
  names the token URL's own setting whatever the body says (nothing takes token requests there);
- with ``use_instance_url`` every request signed with a token goes to the ``instance_url`` its
  token response named (Salesforce: the org's instance, not the login host).

The token types (``CachedToken``, ``TokenCache``, ``set_token_cache``) live in the core
(``offering_sync.tokens``) so the state store can implement a persistent cache; they are
re-exported here. Secrets stay ``SecretStr`` until the moment a header or form is written,
and are registered with the redactor so they can never be printed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import SecretStr

from offering_sync.errors import ConfigError, RateLimited, TransientError, Unauthorized
from offering_sync.redact import redact, register_secret
from offering_sync.tokens import (
    CachedToken,
    MemoryTokenCache,
    TokenCache,
    cache_key,
    default_token_cache,
    set_token_cache,
)

__all__ = ["SETTING_EXTENSION", "CachedToken", "HeaderToken", "MemoryTokenCache",
           "OAuth2ClientCredentials", "OAuth2JwtBearer", "OAuth2RefreshToken", "OAuth2Token",
           "SettingNames", "TokenCache", "cache_key", "default_token_cache",
           "set_token_cache"]

SETTING_EXTENSION = "offering_sync.setting"
"""Request extension naming the setting a request's URL came from (for "cannot reach" errors)."""

_SECRET_KEYS = frozenset({"access_token", "refresh_token", "id_token"})
_DESCRIPTION_CHARS = 200


@dataclass(frozen=True, slots=True)
class SettingNames:
    """Which settings a user edits when the token endpoint refuses something: for messages."""

    vendor: str
    url: str
    client_id: str
    credential: str
    """The secret this grant proves itself with: client secret, private key or refresh token."""
    user: str | None = None
    client_secret: str | None = None

    @classmethod
    def for_system(cls, system: str, *, vendor: str | None = None, url: str = "BASE_URL",
                   credential: str = "CLIENT_SECRET", user: str | None = None) -> SettingNames:
        """Names under ``OFFERING_SYNC_<SYSTEM>_``."""
        prefix = f"OFFERING_SYNC_{system.upper()}_"
        return cls(vendor or system, prefix + url, prefix + "CLIENT_ID", prefix + credential,
                   prefix + user if user else None, prefix + "CLIENT_SECRET")


class HeaderToken(httpx.Auth):
    """Sends a fixed token in a header: ``Authorization: Bearer x`` or e.g. ``token: x``."""

    def __init__(self, token: SecretStr, *, header: str = "Authorization",
                 scheme: str | None = "Bearer") -> None:
        register_secret(token.get_secret_value())
        self._token, self._header, self._scheme = token, header, scheme
        self.minted = 0

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header."""
        value = self._token.get_secret_value()
        request.headers[self._header] = f"{self._scheme} {value}" if self._scheme else value
        yield request


class OAuth2Token(httpx.Auth):
    """What every OAuth 2.0 grant shares: mint, cache, sign, refresh once on 401, explain refusals.

    A subclass states its ``grant``, the form it posts (``_grant_body``) and which setting a
    refusal points at (``_blame``).
    """

    requires_response_body = True
    grant: ClassVar[str]

    def __init__(self, token_url: str, client_id: str, *, system: str = "oauth2",
                 names: SettingNames | None = None, json_body: bool = False,
                 extra: dict[str, str] | None = None, cache: TokenCache | None = None,
                 subject: str = "", use_instance_url: bool = False,
                 margin: timedelta = timedelta(seconds=60)) -> None:
        # ``margin``: refresh this long before expiry, at most half the token's lifetime.
        self.token_url, self.client_id, self.system = token_url, client_id, system
        self.names = names or SettingNames.for_system(system)
        self._json, self._extra = json_body, extra or {}
        self.cache: TokenCache = cache if cache is not None else default_token_cache()
        self.key = cache_key(token_url, client_id, self.grant,
                             subject or ",".join(f"{k}={v}" for k, v in sorted(self._extra.items())))
        self.use_instance_url, self.margin = use_instance_url, margin
        self.minted = 0
        """Tokens obtained from the token endpoint by this object (not from the cache)."""
        self.token_response: dict[str, Any] = {}
        """The last token response without its secrets."""
        self._lock = threading.Lock()
        bind = getattr(self.cache, "bind", None)
        if callable(bind):  # a persistent cache encrypts with a key derived from our secret
            bind(self.key, self._secret_material(), system)

    def _secret_material(self) -> bytes:
        """The credential a persistent cache derives its encryption key from."""
        raise NotImplementedError

    # -- what a grant says ------------------------------------------------------------------------

    def _grant_body(self) -> dict[str, str]:
        raise NotImplementedError

    def _blame(self, error: str, description: str) -> str:
        """The setting(s) a refusal points at; grants refine ``invalid_grant``."""
        if error == "invalid_client_id":
            return self.names.client_id
        if error == "invalid_client":
            return self.names.credential
        if error == "unsupported_grant_type":
            return f"{self.names.url} (this grant is not enabled there)"
        return f"{self.names.client_id} / {self.names.credential}"

    # -- the flow -----------------------------------------------------------------------------------

    @property
    def instance_url(self) -> str | None:
        """The API host the last token response named, if any."""
        token = self.cache.get(self.key)
        value = (token.extra if token else self.token_response).get("instance_url")
        return str(value) if value else None

    def current(self) -> CachedToken | None:
        """The cached token if it is still usable, else ``None`` (no request is made)."""
        token = self.cache.get(self.key)
        if token is not None and token.usable(self.margin):
            return token
        return None

    def obtain(self, send: Callable[[httpx.Request], httpx.Response]) -> tuple[CachedToken, bool]:
        """A usable token and whether it came from the cache; mints through ``send`` if needed.

        For callers outside a request (``offering-sync check``): ``send`` posts the token
        request without auth. Raises what ``auth_flow`` raises.
        """
        token = self.current()
        if token is not None:
            return token, True
        with self._lock:
            token = self._accept(send(self.token_request()))
            self.cache.put(self.key, token)
        return token, False

    def token_request(self) -> httpx.Request:
        """The request that mints a token, marked with the setting its URL came from."""
        body = {**self._grant_body(), **self._extra}
        if self._json:
            request = httpx.Request("POST", self.token_url, json=body)
        else:
            request = httpx.Request("POST", self.token_url, data=body)
        request.extensions[SETTING_EXTENSION] = self.names.url
        return request

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Sign with the cached token (minting one if needed); on 401 mint once more and resend.

        Raises:
            Unauthorized: the token endpoint refused the credentials (names the setting).
            TransientError: the token endpoint failed on its side (5xx, 429).
        """
        token = self.current()
        if token is None:
            token = yield from self._mint(stale=None)
        self._sign(request, token)
        response = yield request
        if response.status_code != 401:
            return
        token = yield from self._mint(stale=token)
        self._sign(request, token)
        yield request

    def _mint(self, stale: CachedToken | None) -> Generator[httpx.Request, httpx.Response,
                                                            CachedToken]:
        # One token request at a time per auth object: threads that waited take the new token.
        with self._lock:
            now = self.cache.get(self.key)
            if now is not None and now is not stale and now.usable(self.margin):
                return now
            if stale is not None:
                self.cache.discard(self.key)
            response = yield self.token_request()
            token = self._accept(response)
            self.cache.put(self.key, token)
            return token

    def _sign(self, request: httpx.Request, token: CachedToken) -> None:
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        instance = token.extra.get("instance_url") if self.use_instance_url else None
        if instance:
            base = httpx.URL(str(instance))
            if (request.url.scheme, request.url.host, request.url.port) != \
                    (base.scheme, base.host, base.port):
                request.url = request.url.copy_with(scheme=base.scheme, host=base.host,
                                                    port=base.port)
                request.headers["Host"] = request.url.netloc.decode("ascii")
                request.extensions[SETTING_EXTENSION] = \
                    f"the instance_url the token endpoint at {self.names.url} named"

    def _accept(self, response: httpx.Response) -> CachedToken:
        """The token from a token response, or the error that says what to fix."""
        status = response.status_code
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if status == 200 and isinstance(payload, dict) and payload.get("access_token"):
            return self._keep(payload)
        where = self.token_url
        if status == 429:
            raise RateLimited(f"the token endpoint {where} was rate limited", system=self.system,
                              status=status)
        if status >= 500 or status == 408:
            raise TransientError(f"the token endpoint {where} failed on its side",
                                 system=self.system, status=status)
        if status in (404, 405):  # nothing takes a token request there: the URL is wrong,
            raise self._not_a_token_endpoint(status)  # whatever error its body names
        if isinstance(payload, dict) and payload.get("error"):
            error = str(payload["error"])
            description = redact(str(payload.get("error_description") or "")
                                 )[:_DESCRIPTION_CHARS]
            blamed = self._blame(error, description.lower())
            detail = f"{error} ({description})" if description else error
            raise Unauthorized(f"{self.names.vendor} refused {blamed} at {where}: {detail}",
                               system=self.system, status=status)
        if status == 200:
            raise Unauthorized(f"the token endpoint {where} answered without an access_token; "
                               f"check {self.names.url}", system=self.system, status=status)
        raise self._not_a_token_endpoint(status)

    def _not_a_token_endpoint(self, status: int) -> Unauthorized:
        return Unauthorized(f"{self.token_url} is not an OAuth token endpoint; check "
                            f"{self.names.url}", system=self.system, status=status)

    def _keep(self, payload: dict[str, Any]) -> CachedToken:
        secret = str(payload["access_token"])
        register_secret(secret)
        expires_at = None
        issued_at = datetime.now(UTC)
        lifetime = payload.get("expires_in")
        if (isinstance(lifetime, int | float) and not isinstance(lifetime, bool)) or \
                (isinstance(lifetime, str) and lifetime.isdigit()):
            expires_at = issued_at + timedelta(seconds=float(lifetime))
        self.token_response = {k: v for k, v in payload.items() if k not in _SECRET_KEYS}
        self.minted += 1
        return CachedToken(SecretStr(secret), expires_at, dict(self.token_response),
                           issued_at=issued_at)


class OAuth2ClientCredentials(OAuth2Token):
    """Client-credentials grant (RFC 6749 §4.4): the connected app itself is the caller."""

    grant = "client_credentials"

    def __init__(self, token_url: str, client_id: str, client_secret: SecretStr,
                 **options: Any) -> None:
        register_secret(client_secret.get_secret_value())
        self._secret = client_secret
        super().__init__(token_url, client_id, **options)

    def _grant_body(self) -> dict[str, str]:
        return {"grant_type": self.grant, "client_id": self.client_id,
                "client_secret": self._secret.get_secret_value()}

    def _secret_material(self) -> bytes:
        return self._secret.get_secret_value().encode()

    def _blame(self, error: str, description: str) -> str:
        if error in ("access_denied", "unauthorized", "unauthorized_client") and \
                "service not found" not in description:
            return f"{self.names.client_id} / {self.names.credential}"
        if "service not found" in description or "audience" in description:
            return f"the audience sent with {self.names.client_id}"
        if error == "invalid_grant":
            # Salesforce: "no client credentials user enabled": the app has no run-as user.
            return f"{self.names.client_id} (its connected app needs a run-as user)"
        return super()._blame(error, description)


class OAuth2JwtBearer(OAuth2Token):
    """JWT bearer grant (RFC 7523): a short assertion signed with the app's private key.

    Claims as Salesforce's "OAuth 2.0 JWT Bearer Flow" asks: ``iss`` the consumer key, ``sub`` the
    integration user's username, ``aud`` the login URL, ``exp`` at most three minutes ahead;
    signed RS256. The private key is checked when the object is built, so a bad key file fails
    before any request with the name of the setting.
    """

    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    lifetime = 180

    def __init__(self, token_url: str, client_id: str, username: str, private_key: SecretStr,
                 audience: str, **options: Any) -> None:
        names = options.get("names") or SettingNames.for_system(
            options.get("system", "oauth2"), credential="PRIVATE_KEY", user="USERNAME")
        options["names"] = names
        self._key = _load_private_key(private_key, names.credential)
        self._key_text = private_key
        self.username, self.audience = username, audience.rstrip("/")
        options.setdefault("subject", username)
        super().__init__(token_url, client_id, **options)

    def _grant_body(self) -> dict[str, str]:
        import jwt

        claims = {"iss": self.client_id, "sub": self.username, "aud": self.audience,
                  "exp": int(time.time()) + self.lifetime}
        assertion = jwt.encode(claims, self._key, algorithm="RS256")
        register_secret(assertion)
        return {"grant_type": self.grant, "assertion": assertion}

    def _secret_material(self) -> bytes:
        return self._key_text.get_secret_value().encode()

    def _blame(self, error: str, description: str) -> str:
        if error == "invalid_grant":
            if "audience" in description:
                return f"{self.names.url} (the assertion's audience)"
            if "user" in description and self.names.user:
                return (f"{self.names.user} (the user must be pre-authorized for the connected "
                        "app by profile or permission set)")
            return f"{self.names.credential} (the signature does not match the app's certificate)"
        if error == "invalid_client":
            return self.names.client_id
        return super()._blame(error, description)


class OAuth2RefreshToken(OAuth2Token):
    """Refresh-token grant (RFC 6749 §6): a long-lived refresh token, approved once by a user.

    A token response that carries a new refresh token (rotation) replaces the old one in memory.
    """

    grant = "refresh_token"

    def __init__(self, token_url: str, client_id: str, refresh_token: SecretStr,
                 client_secret: SecretStr | None = None, **options: Any) -> None:
        register_secret(refresh_token.get_secret_value())
        if client_secret is not None:
            register_secret(client_secret.get_secret_value())
        self._refresh, self._secret = refresh_token, client_secret
        names = options.get("names") or SettingNames.for_system(
            options.get("system", "oauth2"), credential="REFRESH_TOKEN")
        options["names"] = names
        super().__init__(token_url, client_id, **options)

    def _secret_material(self) -> bytes:
        return self._refresh.get_secret_value().encode()

    def _grant_body(self) -> dict[str, str]:
        body = {"grant_type": self.grant, "client_id": self.client_id,
                "refresh_token": self._refresh.get_secret_value()}
        if self._secret is not None:
            body["client_secret"] = self._secret.get_secret_value()
        return body

    def _blame(self, error: str, description: str) -> str:
        if error == "invalid_grant":
            return f"{self.names.credential} (expired or revoked: approve the app again)"
        if error == "invalid_client" and self._secret is None:
            return f"{self.names.client_id} (the app may require its client secret)"
        if error == "invalid_client":
            return self.names.client_secret or self.names.client_id
        return super()._blame(error, description)

    def _keep(self, payload: dict[str, Any]) -> CachedToken:
        rotated = payload.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            register_secret(rotated)
            self._refresh = SecretStr(rotated)
        return super()._keep(payload)


def _load_private_key(key: SecretStr, setting: str) -> Any:
    """The PEM private key as a cryptography key object, or a ConfigError naming ``setting``."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    text = key.get_secret_value().strip()
    register_secret(text)
    try:
        loaded = load_pem_private_key(text.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{setting} is not an unencrypted PEM private key (-----BEGIN PRIVATE "
                          "KEY----- or -----BEGIN RSA PRIVATE KEY-----)") from None
    if not isinstance(loaded, RSAPrivateKey):
        raise ConfigError(f"{setting} must be an RSA key: the JWT bearer flow signs with RS256")
    return loaded
