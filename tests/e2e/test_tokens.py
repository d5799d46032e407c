"""Issue 10.2: a Rhythm token outlives the run and the process (1,000 a month per tenant), kept
encrypted in the state store, and the run summary says how many were minted today."""

import json
import os
import sqlite3

import pytest

from offering_sync.emulators import digitalchalk, rhythm, salesforce, server
from offering_sync.state import StateStore
from offering_sync.state.token_cache import StoreTokenCache
from offering_sync.tokens import CachedToken, cache_key
from tests.e2e.test_cli import run


@pytest.mark.slow
def test_ten_scheduled_runs_of_a_rhythm_pipeline_mint_one_token(tmp_path):
    rhythm_app = rhythm.create_app()
    state = tmp_path / "state.db"
    with server.serve_in_thread(digitalchalk.create_app(digitalchalk.Catalog(30, seed=2))) as dc, \
            server.serve_in_thread(rhythm_app) as rh:
        env = {**os.environ, "OFFERING_SYNC_STATE_URL": f"sqlite:///{state}",
               **server.connection_env("digitalchalk", dc.url),
               **server.connection_env("rhythm", rh.url)}
        summaries = []
        for _ in range(10):  # ten separate processes, as a schedule starts them
            done = run("sync", "--source", "digitalchalk", "--target", "rhythm", "--json",
                       env=env)
            assert done.returncode in (0, 1), done.stderr
            summaries.append(json.loads(done.stdout))
    assert rhythm_app.state.tokens_issued == 1
    assert [s["tokens_minted_today"]["rhythm"] for s in summaries] == [1] * 10
    dumped = "\n".join(str(row) for row in sqlite3.connect(state).iterdump())
    (issued,) = rhythm_app.state.tokens
    assert issued not in dumped  # stored encrypted, never in plain text


def test_a_rotated_secret_cannot_read_the_old_token_and_mints_a_new_one(sqlite_url):
    store = StateStore(sqlite_url)
    key = cache_key("https://auth.example/oauth/token", "client", "client_credentials")
    first = StoreTokenCache(store)
    first.bind(key, b"old-secret", "rhythm")
    first.put(key, CachedToken(__import__("pydantic").SecretStr("tok-1"), None, {}))
    same = StoreTokenCache(store)
    same.bind(key, b"old-secret", "rhythm")
    assert same.get(key).access_token.get_secret_value() == "tok-1"
    rotated = StoreTokenCache(store)
    rotated.bind(key, b"new-secret", "rhythm")
    assert rotated.get(key) is None
    unbound = StoreTokenCache(store)
    assert unbound.get(key) is None  # no credential bound: nothing is decrypted


@pytest.mark.parametrize("name", ["rhythm", "salesforce"])
def test_check_reuses_the_stored_token_and_counts_what_it_mints(tmp_path, name):
    """`check` keeps its token where `sync` does: three checks and a sync, one mint, counted."""
    app = rhythm.create_app() if name == "rhythm" else salesforce.create_app()
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    with server.serve_in_thread(app) as vendor, \
            server.serve_in_thread(digitalchalk.create_app(digitalchalk.Catalog(5, seed=2))) as dc:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
        env.update({"OFFERING_SYNC_STATE_URL": state_url,
                    **server.connection_env("digitalchalk", dc.url),
                    **server.connection_env(name, vendor.url)})
        checks = [run("check", name, env=env) for _ in range(3)]
        synced = run("sync", "--source", "digitalchalk", "--target", name, "--json", env=env)
    for done in checks:
        assert done.returncode == 0, done.stdout + done.stderr
    assert "token obtained" in checks[0].stdout
    assert all("token from the cache" in done.stdout for done in checks[1:])
    assert synced.returncode in (0, 1), synced.stderr  # some records may fail: not the point
    assert app.state.tokens_issued == 1
    assert json.loads(synced.stdout)["tokens_minted_today"][name] == 1


def test_a_stored_short_lived_token_keeps_its_lifetime_and_is_refreshed_at_half_life(sqlite_url):
    from datetime import UTC, datetime, timedelta

    from pydantic import SecretStr

    now = datetime.now(UTC)
    key = cache_key("https://auth.example/oauth/token", "client", "client_credentials")
    cache = StoreTokenCache(StateStore(sqlite_url))
    cache.bind(key, b"secret", "rhythm")
    cache.put(key, CachedToken(SecretStr("tok-40s"), now + timedelta(seconds=40), {},
                               issued_at=now))
    later = StoreTokenCache(StateStore(sqlite_url))  # another process
    later.bind(key, b"secret", "rhythm")
    token = later.get(key)
    margin = timedelta(seconds=60)
    assert token.usable(margin, now + timedelta(seconds=10))
    assert not token.usable(margin, now + timedelta(seconds=25))  # past half its life
    day = CachedToken(SecretStr("tok-24h"), now + timedelta(hours=24), {}, issued_at=now)
    assert day.usable(margin, now + timedelta(hours=23, minutes=58))
    assert not day.usable(margin, now + timedelta(hours=23, minutes=59, seconds=30))
