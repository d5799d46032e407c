"""``POST /services/oauth2/token``: the grants a connected app offers an integration.

From the Connect REST quick start (client credentials, form-encoded, answer with
``access_token``, ``instance_url``, ``id``, ``token_type``, ``issued_at``, ``signature``) and the
OAuth 2.0 JWT Bearer Flow help page (assertion claims ``iss`` = consumer key, ``sub`` = username,
``aud`` = the login URL, ``exp`` at most three minutes ahead, RS256 signed with the key whose
certificate is uploaded to the connected app). Errors are the OAuth shape
``{"error", "error_description"}`` with HTTP 400; the codes and descriptions are the ones users
report from real orgs (``invalid_client_id`` "client identifier invalid", ``invalid_client``
"invalid client credentials", ``invalid_grant`` "audience is invalid" / "invalid assertion" /
"user hasn't approved this consumer" / "expired access/refresh token",
``unsupported_grant_type`` "grant type not supported"); the status for each is our reading.
"""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from offering_sync.emulators.salesforce.common import org_state

__all__ = ["JWT_GRANT", "router"]

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_SECONDS = 300  # the help page asks for exp within 3 minutes; allow clock skew

router = APIRouter()

_FORM_SCHEMA: dict[str, Any] = {"requestBody": {"content": {
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object",
        "properties": {k: {"type": "string"} for k in (
            "grant_type", "client_id", "client_secret", "assertion", "refresh_token")},
    }}}}}


def _oauth_error(code: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=status)


@router.post("/services/oauth2/token", openapi_extra=_FORM_SCHEMA)
async def token(request: Request) -> JSONResponse:
    """Mint a session for one of the grants the connected app allows."""
    state = org_state(request)
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace"),
                                         keep_blank_values=True).items()}
    app = state.connected_app
    grant = form.get("grant_type")
    if grant == "client_credentials" and app["client_credentials"]:
        refused = _client(app, form, secret_required=True)
    elif grant == JWT_GRANT and app["certificate"] is not None:
        refused = _assertion(app, form.get("assertion", ""), _login_url(request, state))
    elif grant == "refresh_token":
        refused = _client(app, form, secret_required=app["refresh_requires_secret"])
        if refused is None and form.get("refresh_token") not in state.refresh_tokens:
            refused = _oauth_error("invalid_grant", "expired access/refresh token")
    else:
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if refused is not None:
        return refused
    issued = "00D" + secrets.token_urlsafe(24)
    state.tokens[issued] = state.settings["token_ttl_calls"]
    state.tokens_issued += 1
    instance = state.settings.get("instance_url") or str(request.base_url).rstrip("/")
    return JSONResponse({
        "access_token": issued, "signature": secrets.token_urlsafe(16),
        "scope": "api", "token_format": "opaque", "instance_url": instance,
        "id": f"{_login_url(request, state)}/id/00Dxx0000000001EAA/005xx0000000001AAA",
        "token_type": "Bearer", "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)),
    })


def _login_url(request: Request, state: Any) -> str:
    return str(state.settings.get("login_url") or str(request.base_url)).rstrip("/")


def _client(app: dict[str, Any], form: dict[str, str], *,
            secret_required: bool) -> JSONResponse | None:
    if form.get("client_id") != app["client_id"]:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    if secret_required and form.get("client_secret") != app["client_secret"]:
        return _oauth_error("invalid_client", "invalid client credentials")
    return None


def _assertion(app: dict[str, Any], assertion: str, login_url: str) -> JSONResponse | None:
    """Verify a JWT bearer assertion the way the help page describes, in the order it reads."""
    import jwt

    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    if unverified.get("iss") != app["client_id"]:
        return _oauth_error("invalid_client_id", "client identifier invalid")
    audience = app["audience"] or login_url
    try:
        claims = jwt.decode(assertion, app["certificate"], algorithms=["RS256"],
                            audience=audience, issuer=app["client_id"],
                            options={"require": ["iss", "sub", "aud", "exp"]})
    except jwt.InvalidAudienceError:
        return _oauth_error("invalid_grant", "audience is invalid")
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "invalid assertion")
    if int(claims["exp"]) > time.time() + MAX_ASSERTION_SECONDS:
        return _oauth_error("invalid_grant", "invalid assertion")
    if claims.get("sub") not in app["users"]:
        return _oauth_error("invalid_grant", "user hasn't approved this consumer")
    return None
