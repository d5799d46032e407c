import time

import httpx
import pytest
from pydantic import SecretStr

from offering_sync.connectors.digitalchalk import DigitalChalkSettings, DigitalChalkSource
from offering_sync.connectors.http.client import HttpCaller, parse_retry_after
from offering_sync.connectors.http.retry import RateLimiter, RetryBudget, RetryPolicy
from offering_sync.errors import RateLimited, Rejected, TransientError


def test_the_rate_limiter_spaces_requests():
    limiter = RateLimiter(rate=50, burst=1)
    started = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - started >= 0.19  # 10 waits of 20 ms


def test_a_connector_honours_its_configured_rate_limit():
    client = httpx.Client(transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json=[])), base_url="http://dc/")
    caller = HttpCaller(client, "digitalchalk", limiter=RateLimiter(20, burst=1))
    source = DigitalChalkSource(caller, DigitalChalkSettings(token=SecretStr("t")))
    started = time.monotonic()
    for _ in range(6):
        list(source.pages())
    assert time.monotonic() - started >= 0.24


def test_only_transient_errors_are_retried_and_the_budget_runs_out():
    calls = []

    def flaky():
        calls.append(1)
        raise TransientError("boom", system="x", status=503)

    policy = RetryPolicy(attempts=10, initial=0, max_backoff=0, budget=RetryBudget(total=3),
                         sleep=lambda s: None)
    with pytest.raises(TransientError):
        policy.call(flaky)
    assert len(calls) == 4  # the first try and three retries, then the budget is spent
    calls.clear()

    def refused():
        calls.append(1)
        raise Rejected("no", system="x", status=400)

    with pytest.raises(Rejected):
        RetryPolicy(sleep=lambda s: None).call(refused)
    assert len(calls) == 1


def test_retry_after_longer_than_the_cap_is_not_slept_through():
    slept = []
    policy = RetryPolicy(max_wait=5, sleep=slept.append)

    def slow_down():
        raise RateLimited("wait", system="x", status=429, retry_after=3600)

    with pytest.raises(RateLimited):
        policy.call(slow_down)
    assert slept == []


@pytest.mark.parametrize("value,expected", [("2", 2.0), ("0.5", 0.5), (None, None),
                                            ("soon", None)])
def test_retry_after_parsing(value, expected):
    assert parse_retry_after(value) == expected


def test_retry_after_as_an_http_date():
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= parse_retry_after(when) <= 31
