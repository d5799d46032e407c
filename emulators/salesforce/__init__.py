"""Salesforce Education Cloud emulator: an org's OAuth endpoint, REST reads and the bulk POST.

Written from the vendor's pages (seed 000; shared/research/seed-apis.md §1), never from the
connector. ``create_app()`` only assembles: the routes are module-level handlers in
``oauth`` (token grants), ``data`` (versions, limits, describe, SOQL query), ``bulk`` (the
course-offering POST) and the admin router below; the session check is a FastAPI dependency and
faults are the shared middleware. One app can be served twice (``serve_org``): on a login host
and on an instance host, with the token response naming the instance, so a client that keeps
calling the login host is refused as a real org would refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError

from offering_sync.emulators.faults import Faults, install_faults
from offering_sync.emulators.salesforce import bulk, data, oauth
from offering_sync.emulators.salesforce.bulk import OFFERING_KEYS, SCHEDULE_KEYS, apply_offering
from offering_sync.emulators.salesforce.common import (
    MAX_VERSION,
    SalesforceError,
    on_salesforce_error,
)
from offering_sync.emulators.salesforce.org import (
    DEFAULT_COURSE_NUMBER,
    DEFAULT_EXTERNAL_ID_FIELD,
    Org,
    demo_reference_data,
)

__all__ = ["DEFAULT_COURSE_NUMBER", "DEMO_CLIENT_ID", "DEMO_CLIENT_SECRET", "DEMO_REFRESH_TOKEN",
           "DEMO_USERNAME", "Org", "create_app", "demo_reference_data", "seed", "serve_org"]

DEMO_CLIENT_ID, DEMO_CLIENT_SECRET = "sf-demo-client", "sf-demo-secret"
DEMO_USERNAME = "integration@demo-university.example"
DEMO_REFRESH_TOKEN = "5Aep861-demo-refresh-token"  # noqa: S105 - the demo org's own
_OFFERING_KEYS, _SCHEDULE_KEYS = OFFERING_KEYS, SCHEDULE_KEYS
_ERROR_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 429: "REQUEST_LIMIT_EXCEEDED"}


def create_app(org: Org | None = None, *, client_id: str = DEMO_CLIENT_ID,
               client_secret: str = DEMO_CLIENT_SECRET, static_tokens: tuple[str, ...] = (),
               max_batch: int = 200, upsert_missing: str = "fail", daily_limit: int = 1_000_000,
               token_ttl_calls: int | None = None, post_seconds: float = 0.0,
               faults: Faults | None = None, jwt_certificate: str | None = None,
               jwt_users: Iterable[str] = (DEMO_USERNAME,), jwt_audience: str | None = None,
               refresh_tokens: Iterable[str] = (DEMO_REFRESH_TOKEN,),
               refresh_requires_secret: bool = False, client_credentials: bool = True,
               external_id_fields: Iterable[str] = (DEFAULT_EXTERNAL_ID_FIELD,),
               max_version: float = MAX_VERSION) -> FastAPI:
    """The emulator as an ASGI app; ``app.state.org`` holds what was loaded.

    ``jwt_certificate`` (a PEM certificate or public key) enables the JWT bearer grant, as
    uploading a certificate to the connected app does; ``jwt_audience`` is the ``aud`` the org
    expects (default: the login URL the request came to).
    """
    app = FastAPI(title="Salesforce Education Cloud emulator", docs_url=None, redoc_url=None,
                  openapi_url="/_emulator/openapi.json")
    state = app.state
    state.org = org or Org()
    state.tokens = {t: None for t in static_tokens}
    state.tokens_issued = 0
    state.refresh_tokens = set(refresh_tokens)
    state.connected_app = {
        "client_id": client_id, "client_secret": client_secret,
        "client_credentials": client_credentials, "users": set(jwt_users),
        "certificate": _public_key(jwt_certificate), "audience": jwt_audience,
        "refresh_requires_secret": refresh_requires_secret}
    state.usage = state.posts = state.records_posted = 0
    state.cursors = {}
    state.queries = []  # every SOQL text received, for tests that count queries
    state.query_page_size = 2000
    state.in_flight = state.max_in_flight = 0
    state.settings = {"max_batch": max_batch, "upsert_missing": upsert_missing,
                      "daily_limit": daily_limit, "token_ttl_calls": token_ttl_calls,
                      "post_seconds": post_seconds, "instance_url": None, "login_url": None,
                      "next_url_prefix": "", "max_version": max_version,
                      "external_id_fields": list(external_id_fields)}
    state.faults = install_faults(app, faults or Faults(), lambda status, msg: [
        {"errorCode": _ERROR_CODES.get(status, "SERVER_UNAVAILABLE"), "message": msg}])
    app.add_exception_handler(SalesforceError, on_salesforce_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (oauth.router, data.router, bulk.router, admin):
        app.include_router(router)
    return app


async def _validation_error(_request: Request, exc: Exception) -> Any:
    """FastAPI's own 422 (a malformed parameter) in the vendor's 400 shape."""
    from fastapi.responses import JSONResponse

    return JSONResponse([{"errorCode": "MALFORMED_QUERY" if "query" in str(exc) else
                          "INVALID_INPUT", "message": "malformed request"}], status_code=400)


def _public_key(pem: str | None) -> Any:
    """A certificate's public key (what the connected app keeps), or the public key as given."""
    if pem is None:
        return None
    if "BEGIN CERTIFICATE" in pem:
        from cryptography import x509

        return x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    return load_pem_public_key(pem.encode("ascii"))


# -- admin: switches and views for tests and the demo, never faulted, not in the vendor schema --

admin = APIRouter(prefix="/_emulator", include_in_schema=False)


@admin.put("/settings")
def set_settings(changes: dict[str, Any], request: Request) -> dict[str, Any]:
    """Change emulator settings (batch cap, quota, instance URL, …)."""
    settings = request.app.state.settings
    settings.update({k: v for k, v in changes.items() if k in settings})
    return dict(settings)


@admin.post("/reset")
def reset(request: Request) -> dict[str, int]:
    """Forget every offering and counter (reference data stays)."""
    state = request.app.state
    with state.org.lock:
        state.org.offerings.clear()
        state.org.by_external.clear()
    state.posts = state.records_posted = state.usage = 0
    state.faults.reset_in_flight()
    return {"offerings": 0}


@admin.get("/course-offerings")
def offerings(request: Request) -> list[dict[str, Any]]:
    """Every stored offering."""
    with request.app.state.org.lock:
        return list(request.app.state.org.offerings.values())


@admin.post("/learning-courses")
def add_course(body: dict[str, str], request: Request) -> dict[str, str]:
    """Add a LearningCourse ``{"Name", "CourseNumber"}`` as an admin would."""
    org = request.app.state.org
    with org.lock:
        return {"Id": org.add_course(body.get("Name", ""), body.get("CourseNumber"))}


@admin.post("/refresh-tokens/revoke")
def revoke(request: Request) -> dict[str, int]:
    """Revoke every refresh token (an admin's "Revoke" on the connected app's OAuth usage)."""
    request.app.state.refresh_tokens.clear()
    return {"refresh_tokens": 0}


@admin.get("/stats")
def stats(request: Request) -> dict[str, Any]:
    """Counters tests and the benchmark read."""
    state = request.app.state
    return {"usage": state.usage, "posts": state.posts, "records_posted": state.records_posted,
            "offerings": len(state.org.offerings), "tokens_issued": state.tokens_issued,
            "injected": state.faults.injected, "max_in_flight": state.faults.max_in_flight}


def seed(app: FastAPI, count: int) -> None:
    """Fill the org with ``count`` valid offerings, as if users had entered them."""
    org: Org = app.state.org
    session = next(iter(k for k, v in org.sessions.items() if v["Name"] == "2026"),
                   "0vcxx0000000026AAA")
    course = next(iter(org.courses), "0vYxx00000000ODEAY")
    for index in range(count):
        offering = {
            "courseOfferingName": f"Salesforce offering {index} – Ökonomie",
            "academicSessionId": session, "learningCourseId": course,
            "startDate": f"2026-0{1 + index % 9}-1{index % 10}T15:00:00.000Z",
            "endDate": f"2026-1{index % 3}-20T15:00:00.000Z", "isActive": True,
            "enrollmentCapacity": index % 40, "sectionNumber": 1 + index % 5,
            "description": f"Seeded offering {index}",
            "courseOfferingExternalId": {"fieldName": DEFAULT_EXTERNAL_ID_FIELD,
                                         "fieldValue": f"seed:{index}"},
        }
        with org.lock:
            apply_offering(app.state, offering, overwrite=False)


def serve_org(app: FastAPI | None = None) -> tuple[Any, Any]:
    """Serve one org on two loopback ports: ``(login, instance)`` ``Running`` servers.

    The token endpoint answers on both (a My Domain login host is also the instance); the
    token response names the instance, and data calls to the login host are refused.
    """
    from offering_sync.emulators.server import start

    app = app or create_app()
    instance = start(app)
    login = start(app)
    app.state.settings.update(instance_url=instance.url, login_url=login.url)
    return login, instance
