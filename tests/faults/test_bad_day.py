"""10,000 offerings through 20 % transient faults and 1 % malformed records, over real sockets."""

from collections import Counter

import pytest
from pydantic import SecretStr

from offering_sync.app.compose import build_pipeline
from offering_sync.connectors.digitalchalk import DigitalChalkSettings, DigitalChalkSource
from offering_sync.connectors.http.retry import RetryBudget, RetryPolicy
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceTarget
from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.faults import Faults
from offering_sync.engine import sync_pipeline
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore

RECORDS = 10_000
EACH = 0.0543  # four independent faults per request: 1 - (1 - 0.0543) ** 4 ≈ 0.20


def faults(seed: int, **extra) -> Faults:
    return Faults(rate_limit_rate=EACH, retry_after_seconds=0.01, error_rate=EACH,
                  timeout_rate=EACH, timeout_seconds=0.6, drop_rate=EACH, seed=seed, **extra)


def policy() -> RetryPolicy:
    return RetryPolicy(attempts=12, initial=0.005, max_backoff=0.05, max_wait=1.0,
                       budget=RetryBudget(total=5_000))


@pytest.mark.slow  # every fault at once (9 s): a soak-like run, in the group .ci/run also runs
def test_a_bad_day_ends_with_exactly_the_valid_records_once_each(sqlite_url):
    catalog = digitalchalk.Catalog(RECORDS, seed=31)
    clean = digitalchalk.Catalog(RECORDS, seed=31)
    dc_app = digitalchalk.create_app(catalog, faults=faults(1, malformed_rate=0.01))
    sf_app = salesforce.create_app(faults=faults(2))
    with server.serve_in_thread(dc_app) as dc, server.serve_in_thread(sf_app) as sf:
        source = DigitalChalkSource.from_settings(DigitalChalkSettings(
            base_url=dc.url + "/dc/api/v5", token=SecretStr(digitalchalk.DEFAULT_TOKEN),
            timeout=0.4), retry=policy())
        target = SalesforceTarget.from_settings(SalesforceSettings(
            base_url=sf.url, client_id=salesforce.DEMO_CLIENT_ID,
            client_secret=SecretStr(salesforce.DEMO_CLIENT_SECRET), timeout=0.4),
            retry=policy())
        pipeline = build_pipeline("digitalchalk", "salesforce", CoreSettings(),
                                  source_connector=source, target_connector=target)
        store = StateStore(sqlite_url)
        summary = sync_pipeline(pipeline, store)
        injected = {**dc_app.state.faults.injected}
        for kind, n in sf_app.state.faults.injected.items():
            injected[kind] = injected.get(kind, 0) + n

    malformed = {r["id"] for i, r in enumerate(catalog) if r != clean.get(i)}
    valid = {f"digitalchalk:{r['id']}" for r in catalog} - {f"digitalchalk:{m}" for m in malformed}
    assert 50 <= len(malformed) <= 150
    assert {"429", "timeout", "drop"} <= set(injected) and sum(injected.values()) > 20

    held = Counter(o["courseOfferingExternalId"]["fieldValue"]
                   for o in sf_app.state.org.offerings.values())
    assert set(held) == valid and set(held.values()) == {1}

    c = summary.counts
    assert c.extracted == RECORDS == c.created + c.updated + c.unchanged + c.failed
    assert c.failed == len(malformed) and c.created + c.updated == len(valid)
    dead = store.dead_letters(limit=RECORDS)
    assert {d.source_id for d in dead} == malformed
    assert all(d.field in {"title", "starts_at", "price", "currency"} for d in dead), \
        Counter(d.field for d in dead)
    assert all(d.source_id in d.error for d in dead)
