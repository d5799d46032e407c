"""Rhythm's Auth0 token endpoint and the bearer check every API call makes.

Documented: Auth0 client credentials for machine-to-machine use, audience
``https://api.rhythmsoftware.com``, JWT bearer tokens carrying the
``http://rhythmsoftware.com/tenant_id`` and ``/customer_id`` claims (tutorials/authentication,
troubleshooting-401; seed-apis.md §2.2); tokens last 24 h and a tenant may mint 1,000 M2M tokens
a month (tutorials/concepts); a wrong audience is a 401 (troubleshooting-401). Auth0's own
answers: ``{access_token, token_type, expires_in}`` and ``{"error": "access_denied",
"error_description": "Unauthorized"}`` for a bad client. Our readings: the path ``/oauth/token``
on the emulator's host (Auth0's, on a tenant domain of its own in reality); JSON or form bodies
(Auth0 takes both); 429 past the monthly cap; API answers ``{"message": ...}`` (API Gateway's).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from pydantic import BaseModel

from offering_sync.emulators.answers import JSONResponse, VendorError

__all__ = ["AUDIENCE", "IssuedToken", "TokenRequest", "accept_bearer", "router"]

AUDIENCE = "https://api.rhythmsoftware.com"
TENANT_CLAIM = "http://rhythmsoftware.com/tenant_id"
CUSTOMER_CLAIM = "http://rhythmsoftware.com/customer_id"


@dataclass(frozen=True)
class IssuedToken:
    """What the emulator remembers of a token it minted."""

    tenant_id: str
    expires_at: float


class TokenRequest(BaseModel):
    """The client-credentials request (for the emulator's OpenAPI; parsed by hand)."""

    grant_type: Literal["client_credentials"]
    client_id: str
    client_secret: str
    audience: str


router = APIRouter()


@router.post("/oauth/token", openapi_extra={"requestBody": {"content": {
    "application/json": {"schema": TokenRequest.model_json_schema()}}}})
async def issue_token(request: Request) -> JSONResponse:
    """Documented (Auth0 client credentials; tutorials/authentication and concepts)."""
    state = request.app.state
    body = await _token_body(request)
    if body.get("grant_type") != "client_credentials":
        raise VendorError(400, "grant_type", body={
            "error": "invalid_request",
            "error_description": "Missing required parameter: grant_type=client_credentials"})
    config = state.config
    if body.get("client_id") != config.client_id or \
            body.get("client_secret") != config.client_secret:
        raise VendorError(401, "client", body={"error": "access_denied",
                                               "error_description": "Unauthorized"})
    if body.get("audience") != AUDIENCE:
        raise VendorError(401, "audience", body={
            "error": "access_denied",
            "error_description": f"Service not found: {str(body.get('audience'))[:200]}"})
    now = state.clock()
    month = datetime.fromtimestamp(now, UTC).strftime("%Y-%m")
    if state.tokens_by_month.get(month, 0) >= config.monthly_token_limit:
        raise VendorError(429, "quota", body={
            "error": "too_many_requests",
            "error_description": "The monthly quota of machine-to-machine tokens is used up"})
    state.tokens_by_month[month] = state.tokens_by_month.get(month, 0) + 1
    state.tokens_issued += 1
    token = _jwt(config.client_id, state.tenant.tenant_id, now, config.token_ttl_seconds)
    state.tokens[token] = IssuedToken(state.tenant.tenant_id, now + config.token_ttl_seconds)
    return JSONResponse({"access_token": token, "token_type": "Bearer",
                         "expires_in": config.token_ttl_seconds})


async def _token_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        try:
            return dict(parse_qsl(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError):
            return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        body = None
    return body if isinstance(body, dict) else {}


def accept_bearer(state: Any, token: str | None) -> str:
    """The tenant a live token was minted for.

    Raises:
        VendorError: 401 for a missing, unknown or expired token.
    """
    issued = state.tokens.get(token) if token else None
    if issued is None:
        raise VendorError(401, "Unauthorized")
    if state.clock() >= issued.expires_at:
        raise VendorError(401, "The incoming token has expired")
    return str(issued.tenant_id)


def _jwt(client_id: str, tenant_id: str, now: float, ttl: int) -> str:
    """A JWT-shaped token with the documented claims.

    Signed by nobody: the emulator checks its own list of the tokens it issued.
    """
    def part(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"iss": "https://rhythm-emulator.auth0.example/", "sub": f"{client_id}@clients",
              "aud": AUDIENCE, "iat": int(now), "exp": int(now + ttl), "azp": client_id,
              "gty": "client-credentials", TENANT_CLAIM: tenant_id,
              CUSTOMER_CLAIM: f"customer-{tenant_id}", "jti": secrets.token_hex(8)}
    return ".".join((part({"alg": "RS256", "typ": "JWT", "kid": "emulator"}), part(claims),
                     secrets.token_urlsafe(32)))
