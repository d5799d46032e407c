"""httpx auth parts: a static header token, and OAuth2 client credentials that refresh on 401.

Secrets stay ``SecretStr`` until the moment a header is written, and are registered with the
redactor so they can never be printed.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any

import httpx
from pydantic import SecretStr

from offering_sync.redact import register_secret

__all__ = ["HeaderToken", "OAuth2ClientCredentials"]


class HeaderToken(httpx.Auth):
    """Sends a fixed token in a header: ``Authorization: Bearer x`` or e.g. ``token: x``."""

    def __init__(self, token: SecretStr, *, header: str = "Authorization",
                 scheme: str | None = "Bearer") -> None:
        register_secret(token.get_secret_value())
        self._token, self._header, self._scheme = token, header, scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the header."""
        value = self._token.get_secret_value()
        request.headers[self._header] = f"{self._scheme} {value}" if self._scheme else value
        yield request


class OAuth2ClientCredentials(httpx.Auth):
    """Client-credentials grant; caches the token and fetches a new one once on a 401."""

    requires_response_body = True

    def __init__(self, token_url: str, client_id: str, client_secret: SecretStr, *,
                 json_body: bool = False, extra: dict[str, str] | None = None) -> None:
        register_secret(client_secret.get_secret_value())
        self._url, self._id, self._secret = token_url, client_id, client_secret
        self._json, self._extra = json_body, extra or {}
        self._token: SecretStr | None = None
        self._lock = threading.Lock()
        self.token_response: dict[str, Any] = {}

    def _token_request(self) -> httpx.Request:
        body = {"grant_type": "client_credentials", "client_id": self._id,
                "client_secret": self._secret.get_secret_value(), **self._extra}
        if self._json:
            return httpx.Request("POST", self._url, json=body)
        return httpx.Request("POST", self._url, data=body)

    def _accept(self, response: httpx.Response) -> SecretStr | None:
        if response.status_code != 200:
            return None
        try:
            payload = response.json()
        except ValueError:
            return None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not token:
            return None
        register_secret(token)
        self.token_response = {k: v for k, v in payload.items() if k != "access_token"}
        return SecretStr(token)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Attach the cached token; on 401 fetch a new one and send the request once more."""
        token = self._token
        if token is None:
            response = yield self._token_request()
            token = self._accept(response)
            if token is None:
                yield from self._give_up(request, response)
                return
            with self._lock:
                self._token = token
        request.headers["Authorization"] = f"Bearer {token.get_secret_value()}"
        response = yield request
        if response.status_code != 401:
            return
        response = yield self._token_request()
        fresh = self._accept(response)
        if fresh is None:
            return
        with self._lock:
            self._token = fresh
        request.headers["Authorization"] = f"Bearer {fresh.get_secret_value()}"
        yield request

    def _give_up(self, request: httpx.Request, token_response: httpx.Response,
                 ) -> Generator[httpx.Request, httpx.Response, None]:
        # Send the request without a token so the caller sees the vendor's 401 for it.
        request.headers.pop("Authorization", None)
        request.extensions["token_error"] = token_response.text[:500]
        yield request
