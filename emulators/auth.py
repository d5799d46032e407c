"""One auth dependency for every emulator: read the vendor's token, let the app decide.

The vendors differ only in where the token travels (``Authorization: Bearer`` for DigitalChalk
and Rhythm, a ``token`` header for SmarterProctoring) and in who accepts it, so ``token_auth``
reads it and asks ``request.app.state.accept_token``, which returns whoever the token stands for
or raises the vendor's 401 (``VendorError``). The scheme is declared through FastAPI's security
classes (without their own errors), so the emulator's OpenAPI says where the token goes.
"""

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, HTTPBearer

__all__ = ["bearer_auth", "header_auth", "read_token"]


def read_token(request: Request, *, header: str = "authorization",
               scheme: str | None = "Bearer") -> str | None:
    """The token from ``header`` (after ``scheme`` and one space, when there is a scheme)."""
    value = request.headers.get(header)
    if not value:
        return None
    if scheme is None:
        return value
    prefix = scheme + " "
    if not value.startswith(prefix):
        return None
    return value[len(prefix):] or None


def _accept(request: Request, token: str | None) -> Any:
    return request.app.state.accept_token(token)


def bearer_auth() -> Callable[..., Any]:
    """Dependency for ``Authorization: Bearer <token>``."""
    declared = HTTPBearer(auto_error=False)

    def dependency(request: Request, _: Annotated[Any, Security(declared)] = None) -> Any:
        return _accept(request, read_token(request))

    return dependency


def header_auth(header: str) -> Callable[..., Any]:
    """Dependency for a token sent bare in ``header`` (SmarterProctoring's ``token``)."""
    declared = APIKeyHeader(name=header, auto_error=False)

    def dependency(request: Request, _: Annotated[Any, Security(declared)] = None) -> Any:
        return _accept(request, read_token(request, header=header, scheme=None))

    return dependency
