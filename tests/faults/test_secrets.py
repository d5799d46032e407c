"""A run with distinctive credentials leaves them nowhere: output, logs, state DB, errors."""

import os
import subprocess
import sys

from sqlalchemy import create_engine, inspect, text

from offering_sync.emulators import digitalchalk, salesforce, server
from tests.conftest import SENTINEL_DC_TOKEN, SENTINEL_SF_SECRET


def dump_database(url: str) -> str:
    engine = create_engine(url)
    parts = []
    with engine.connect() as conn:
        for table in inspect(engine).get_table_names():
            parts += [repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}"))]
    engine.dispose()
    return "\n".join(parts)


def test_credentials_never_reach_output_logs_errors_or_the_state_db(tmp_path):
    catalog = digitalchalk.Catalog(60, seed=4)
    catalog.edit(catalog.offering_id(1), {"beginDate": "nope"})
    dc_app = digitalchalk.create_app(catalog, token=SENTINEL_DC_TOKEN)
    sf_app = salesforce.create_app(client_secret=SENTINEL_SF_SECRET, token_ttl_calls=1)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    with server.serve_in_thread(dc_app) as dc, server.serve_in_thread(sf_app) as sf:
        env = {**os.environ, "OFFERING_SYNC_STATE_URL": state_url,
               "OFFERING_SYNC_DIGITALCHALK_BASE_URL": dc.url + "/dc/api/v5",
               "OFFERING_SYNC_DIGITALCHALK_TOKEN": SENTINEL_DC_TOKEN,
               "OFFERING_SYNC_SALESFORCE_BASE_URL": sf.url,
               "OFFERING_SYNC_SALESFORCE_CLIENT_ID": salesforce.DEMO_CLIENT_ID,
               "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": SENTINEL_SF_SECRET,
               "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": "10",
               # token_ttl_calls=1 makes each token good for one call: POSTs in flight at once
               # would share one and all but one get 401 (a real session token is shared).
               "OFFERING_SYNC_SALESFORCE_CONCURRENCY": "1"}
        code = "import logging; from offering_sync.app.cli import main; " \
               "logging.getLogger().setLevel(logging.DEBUG); main()"
        runs = [subprocess.run([sys.executable, "-c", code, *args], env=env, text=True,
                               capture_output=True, timeout=120)
                for args in (["sync", "--source", "digitalchalk", "--target", "salesforce"],
                             ["dead-letters", "list", "--json"], ["runs"])]
        wrong = {**env, "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": SENTINEL_SF_SECRET + "x"}
        catalog.edit(catalog.offering_id(2), {"title": "changed"})
        refused = subprocess.run([sys.executable, "-c", code, "sync", "--source",
                                  "digitalchalk", "--target", "salesforce"], env=wrong,
                                 text=True, capture_output=True, timeout=120)
    assert runs[0].returncode == 1 and refused.returncode == 2  # a credential to fix
    assert "Salesforce refused OFFERING_SYNC_SALESFORCE_CLIENT_SECRET" in refused.stderr
    seen = "\n".join(r.stdout + r.stderr for r in [*runs, refused]) + dump_database(state_url)
    assert "digitalchalk" in seen  # we did capture something real
    for secret in (SENTINEL_DC_TOKEN, SENTINEL_SF_SECRET):
        assert secret not in seen
    for token in sf_app.state.tokens:  # access tokens the emulator issued
        assert token not in seen


def test_a_secret_echoed_escaped_in_a_vendor_error_is_stored_and_printed_masked(tmp_path):
    """A vendor's 400 body holds the token JSON-escaped and URL-encoded: neither form may reach
    the dead letters, the sync log or `dead-letters list --json`."""
    import json
    from urllib.parse import quote

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    token = 'tok"en\\HO-LEAK3'

    async def offerings(request):
        if request.method == "GET":
            return JSONResponse([])
        seen = request.headers.get("token", "")
        return JSONResponse({"message": f"token {seen} may not create offerings",
                             "link": f"/v1/help?token={quote(seen, safe='')}"}, status_code=400)

    vendor = Starlette(routes=[Route("/v1/installs/{install}/courseOfferings", offerings,
                                     methods=["GET", "POST"])])
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    catalog = digitalchalk.Catalog(3, seed=4)
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(vendor) as sp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
        env.update({**server.connection_env("digitalchalk", dc.url),
                    "OFFERING_SYNC_STATE_URL": state_url,
                    "OFFERING_SYNC_SMARTERPROCTORING_BASE_URL": sp.url,
                    "OFFERING_SYNC_SMARTERPROCTORING_TOKEN": token,
                    "OFFERING_SYNC_SMARTERPROCTORING_INSTALL_SID": "AI" + "0" * 32})
        cli = [sys.executable, "-c", "from offering_sync.app.cli import main; main()"]
        runs = [subprocess.run([*cli, *args], env=env, text=True, capture_output=True,
                               timeout=120)
                for args in (["sync", "--source", "digitalchalk", "--target",
                              "smarterproctoring"], ["dead-letters", "list", "--json"])]
    assert runs[0].returncode == 1, runs[0].stderr
    letters = json.loads(runs[1].stdout)
    assert "may not create offerings" in json.dumps(letters)  # the vendor's words are kept
    seen = "\n".join(r.stdout + r.stderr for r in runs) + dump_database(state_url)
    for form in (token, json.dumps(token)[1:-1], json.dumps(json.dumps(token))[1:-1],
                 quote(token, safe=""), "HO-LEAK3"):
        assert form not in seen, form
