"""Schemathesis from each emulator's own OpenAPI: any input gets a 2xx or the vendor's 4xx.

Every operation is fuzzed with schema-conforming and schema-violating requests (positive and
negative modes) from a fixed seed with a small budget. The coverage phase, which sends each
field every wrong JSON type in turn (how ``type: []`` and ``address.country: {}`` were found),
runs on the write operations only, to keep each emulator to a few seconds.
"""

from __future__ import annotations

import re
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from offering_sync.emulators import digitalchalk, rhythm, smarterproctoring

OPENAPI = "/_emulator/openapi.json"
SEED = 20261122
BUDGET = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))


def _rhythm() -> tuple[Any, dict[str, str]]:
    app = rhythm.create_app()
    app.state.tenant.seed(5)
    token = TestClient(app).post("/oauth/token", json={
        "grant_type": "client_credentials", "client_id": rhythm.DEMO_CLIENT_ID,
        "client_secret": rhythm.DEMO_CLIENT_SECRET, "audience": rhythm.AUDIENCE}).json()
    return app, {"Authorization": f"Bearer {token['access_token']}"}


def _smarterproctoring() -> tuple[Any, dict[str, str]]:
    app = smarterproctoring.create_app()
    app.state.install.seed(5)
    return app, {"token": smarterproctoring.DEMO_TOKEN}


def _digitalchalk() -> tuple[Any, dict[str, str]]:
    app = digitalchalk.create_app(digitalchalk.Catalog(40, seed=3))
    return app, {"Authorization": f"Bearer {digitalchalk.DEFAULT_TOKEN}"}


def _load(app: Any) -> Any:
    schema = schemathesis.openapi.from_asgi(OPENAPI, app)
    schema.config.seed = SEED  # the same cases on every run
    return schema


def _schemas(app: Any, *writes: tuple[str, str]) -> tuple[Any, Any]:
    """All operations without the coverage phase, and the ``writes`` with it alone."""
    fuzzed = _load(app)
    fuzzed.config.phases.coverage.enabled = False
    covered = _load(app)
    covered.config.phases.fuzzing.enabled = False
    for method, path in writes:
        covered = covered.include(method=method, path=path)
    return fuzzed, covered


RH_APP, RH_AUTH = _rhythm()
SP_APP, SP_AUTH = _smarterproctoring()
DC_APP, DC_AUTH = _digitalchalk()
RH, RH_COVERED = _schemas(RH_APP, ("POST", "/courseOfferings/{tenant_id}"))
SP, SP_COVERED = _schemas(SP_APP, ("POST", "/v1/installs/{installSid}/courseOfferings"))
DC = _load(DC_APP)


def _answer(case: Any, auth: dict[str, str]) -> Any:
    """Send ``case`` with our credentials (the generated ones would only ever get 401s)."""
    headers = {k: v for k, v in (case.headers or {}).items()
               if k.lower() not in ("authorization", "token")}
    response = case.call(headers={**headers, **auth})
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    return response


def _check_rhythm(case: Any) -> None:
    if "tenant_id" in (case.path_parameters or {}):
        case.path_parameters = {**case.path_parameters, "tenant_id": rhythm.DEMO_TENANT}
    response = _answer(case, RH_AUTH)
    if response.status_code >= 400:
        body = response.json()  # {"message"} from the API, Auth0's {"error", ...} for tokens
        assert isinstance(body, dict) and (set(body) == {"message"} or "error" in body), body


def _check_smarterproctoring(case: Any) -> None:
    sid = (case.path_parameters or {}).get("installSid", "")
    if re.fullmatch(smarterproctoring.INSTALL_PATTERN, str(sid)):  # a valid SID: make it ours
        case.path_parameters = {**case.path_parameters,
                                "installSid": smarterproctoring.DEMO_INSTALL}
    response = _answer(case, SP_AUTH)
    if response.status_code >= 400:
        assert set(response.json()) == {"statusCode", "error", "message"}, response.text


@RH.parametrize()
@BUDGET
def test_rhythm_answers_a_record_a_listing_or_a_message(case):
    _check_rhythm(case)


@RH_COVERED.parametrize()
@BUDGET
def test_rhythm_create_answers_every_wrong_type_with_a_message(case):
    _check_rhythm(case)


@SP.parametrize()
@BUDGET
def test_smarterproctoring_answers_an_offering_a_listing_or_a_boom_error(case):
    _check_smarterproctoring(case)


@SP_COVERED.parametrize()
@BUDGET
def test_smarterproctoring_create_answers_every_wrong_type_with_a_boom_error(case):
    _check_smarterproctoring(case)


@DC.parametrize()
@BUDGET
def test_digitalchalk_answers_offerings_or_its_documented_errors(case):
    response = _answer(case, DC_AUTH)
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and {"fieldErrors", "errors", "error"} & set(body), body
