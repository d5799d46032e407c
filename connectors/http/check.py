"""Read-only connection checks every system can share: settings, credentials, one read.

``source_check`` builds a system's source from its settings and reads the first page (no
write, nothing stored); each step is one ``Check`` line saying what was tried and what to fix.
``send_unauthenticated`` posts a token request outside the auth flow with the same "cannot
reach" wording as the HTTP caller.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from pydantic import ValidationError

from offering_sync.connectors.http.auth import OAuth2Token
from offering_sync.errors import ConfigError, ConnectorError, Unauthorized
from offering_sync.plugin import Check
from offering_sync.redact import redact
from offering_sync.settings import read_settings

__all__ = ["describe_settings_error", "send_unauthenticated", "source_check", "token_check"]


def describe_settings_error(exc: ValidationError, prefix: str) -> str:
    """The first invalid setting as one sentence: variable, value, what is allowed."""
    err = exc.errors(include_url=False)[0]
    name = prefix + "_".join(str(p) for p in err["loc"]).upper()
    return f"{name}={redact(str(err.get('input')))[:60]!r} is invalid: {err['msg']}"


def send_unauthenticated(client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """Send ``request`` without the client's auth; an unreachable host names its setting."""
    try:
        return client.send(request, auth=None)
    except (httpx.ConnectError, httpx.TimeoutException) as exc:
        setting = request.extensions.get("offering_sync.setting", "the token URL")
        where = request.url.copy_with(query=None)
        raise ConfigError(f"cannot reach {where} ({redact(str(exc))[:120]}); check "
                          f"{setting}") from None


def token_check(system: str, auth: Any, client: httpx.Client, flow: str) -> Check | None:
    """One line for the token step when ``auth`` is an OAuth grant (else ``None``)."""
    if not isinstance(auth, OAuth2Token):
        return None
    try:
        token, cached = auth.obtain(lambda request: send_unauthenticated(client, request))
    except (ConfigError, ConnectorError) as exc:
        return Check(system, "token", False, str(exc), _fix(exc))
    detail = f"{flow} token {'from the cache' if cached else 'obtained'} at {auth.token_url}"
    instance = token.extra.get("instance_url")
    if instance:
        detail += f"; instance {instance}"
    return Check(system, "token", True, detail)


def _fix(exc: Exception) -> str:
    if isinstance(exc, Unauthorized):
        return "correct the setting named above"
    if isinstance(exc, ConfigError):
        return "set or correct the setting named above"
    return "try again; if it persists, the vendor's status page may say more"


def source_check(system: str, prefix: str, build: Callable[..., Any],
                 settings_class: type[Any] | None = None) -> list[Check]:
    """Settings, token (for OAuth), and a read of page 1 through the system's own source.

    With ``settings_class`` the settings are read first, so a bad value (a URL without its
    scheme) is a ``settings`` line naming the variable; ``build`` then gets them.
    """
    checks: list[Check] = []
    try:
        settings = read_settings(settings_class) if settings_class is not None else None
    except ConfigError as exc:
        return [Check(system, "settings", False, str(exc), "fix the value named above")]
    try:
        source = build(settings) if settings is not None else build()
    except ValidationError as exc:
        return [Check(system, "settings", False, describe_settings_error(exc, prefix),
                      "fix the value named above")]
    except ConfigError as exc:
        return [Check(system, "credentials", False, str(exc), _fix(exc))]
    checks.append(Check(system, "settings", True, f"credentials present for {system}"))
    try:
        auth = source.http.client.auth
        line = token_check(system, auth, source.http.client, "client credentials")
        if line is not None:
            checks.append(line)
            if not line.ok:
                return checks
        pages = source.pages()
        try:
            page = next(pages, None)
        finally:
            pages.close()
        count = len(page.records) if page is not None else 0
        checks.append(Check(system, "read", True, f"read page 1 of offerings ({count} records)"))
    except (ConfigError, ConnectorError) as exc:
        checks.append(Check(system, "read", False, str(exc), _fix(exc)))
    finally:
        source.close()
    return checks
