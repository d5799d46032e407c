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
