"""Retry policy (tenacity) honouring ``Retry-After``, a per-run retry budget, and a rate limiter.

Only ``TransientError`` is retried, and only for requests the caller marks idempotent: reads,
and writes that an external ID makes safe to repeat.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from offering_sync.errors import RateLimited, TransientError

__all__ = ["RateLimiter", "RetryBudget", "RetryPolicy"]

T = TypeVar("T")


@dataclass
class RetryBudget:
    """How many retries a whole run may spend, shared by every request of the run."""

    total: int = 10_000
    spent: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def take(self) -> bool:
        """Spend one retry; False once the budget is gone."""
        with self._lock:
            if self.spent >= self.total:
                return False
            self.spent += 1
            return True


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter; ``Retry-After`` wins, capped at ``max_wait``."""

    attempts: int = 6
    initial: float = 0.2
    max_backoff: float = 20.0
    max_wait: float = 120.0
    budget: RetryBudget = field(default_factory=RetryBudget)
    sleep: Callable[[float], None] = time.sleep

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn``, retrying transient failures while attempts and budget last."""
        backoff = wait_exponential_jitter(initial=self.initial, max=self.max_backoff)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return min(max(exc.retry_after, 0.0), self.max_wait)
            return float(backoff(state))

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, TransientError):
                return False
            if isinstance(exc, RateLimited) and (exc.retry_after or 0) > self.max_wait:
                return False
            return self.budget.take()

        retrying = Retrying(stop=stop_after_attempt(self.attempts), wait=wait,
                            retry=retry_if_exception(should_retry), reraise=True,
                            sleep=self.sleep)
        return retrying(fn)


class RateLimiter:
    """A token bucket: at most ``rate`` requests a second on average, bursts up to ``burst``."""

    def __init__(self, rate: float | None, burst: int = 1) -> None:
        self.rate, self.burst = rate, max(1, burst)
        self._tokens = float(self.burst)
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until a request may go out."""
        if not self.rate:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / self.rate
            time.sleep(wait)
