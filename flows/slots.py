"""Holding a Prefect global concurrency slot: a bounded wait that says what it waits for.

How Prefect 3.8.8 treats a slot (read in its source: ``prefect/concurrency/_leases.py``,
``prefect/server/api/concurrency_limits_v2.py``, ``prefect/server/services/repossessor.py``):

- a slot is held under a *lease*; the holder renews it from a background thread every
  0.75 x the lease duration while it lives, and releases it on exit;
- the server refuses leases shorter than 60 s (``lease_duration`` ``ge=60``);
- a holder that dies without releasing (SIGKILL, a lost host) keeps its slot until the lease
  expires; the server's repossessor service (every 15 s,
  ``PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS``) then frees it. Prefect's default lease
  is 300 s, which is the ~3.5 minutes of silence issue 12 saw; with our 60 s lease a slot
  leaked by a hard kill is free again within about 75 s.

``hold`` waits in short steps (``timeout_seconds`` of Prefect's own ``concurrency``) so that it
can log, every ``log_seconds``, which limit it waits for, how full it is and for how long,
and gives up with ``SlotWaitTimeout`` after ``wait_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect import get_client
from prefect.concurrency.sync import concurrency

from offering_sync.errors import SyncError

__all__ = ["SlotWaitTimeout", "ensure_limit", "hold", "limit_exists"]

_STEP_SECONDS = 5.0


class SlotWaitTimeout(SyncError):
    """No slot of a global concurrency limit came free within the bounded wait."""


def limit_exists(name: str) -> bool:
    """Whether the global concurrency limit ``name`` exists (absent or unreadable: no)."""
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        return False
    return True


def ensure_limit(name: str, slots: int = 1) -> bool:
    """Create the global concurrency limit ``name`` unless it exists; True when created."""
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists

    if limit_exists(name):
        return False
    try:
        with get_client(sync_client=True) as client:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=slots))
    except ObjectAlreadyExists:  # another run created it a moment ago
        return False
    return True


def _fullness(name: str) -> str:
    try:
        with get_client(sync_client=True) as client:
            found = client.read_global_concurrency_limit_by_name(name)
    except Exception:  # noqa: BLE001 - only decorates a log line
        return "fullness unknown"
    return f"{found.active_slots} of {found.limit} slots in use"


@contextmanager
def hold(name: str, *, wait_seconds: float, lease_seconds: float, log_seconds: float,
         logger: Any, why: str) -> Iterator[float]:
    """Hold one slot of ``name`` for the ``with`` body; yields the seconds spent waiting.

    Raises:
        SlotWaitTimeout: no slot came free within ``wait_seconds``.
    """
    started = time.monotonic()
    logged = started
    with ExitStack() as stack:
        while True:
            waited = time.monotonic() - started
            left = wait_seconds - waited
            if left <= 0:
                raise SlotWaitTimeout(
                    f"no slot of global concurrency limit {name!r} ({why}) came free in "
                    f"{wait_seconds:.0f} s ({_fullness(name)}); a run killed while holding "
                    f"one frees it when its lease expires (at most {lease_seconds:.0f} s + 15 s "
                    "after the kill); otherwise check `prefect gcl inspect " + name + "`")
            try:
                stack.enter_context(concurrency(name, occupy=1, strict=False,
                                                timeout_seconds=min(_STEP_SECONDS, left),
                                                lease_duration=lease_seconds))
            except TimeoutError:  # AcquireConcurrencySlotTimeoutError: still taken
                now = time.monotonic()
                if now - logged >= log_seconds:
                    logger.warning("waiting %.0f s so far for a slot of global concurrency "
                                   "limit %s (%s; %s); giving up after %.0f s",
                                   now - started, name, why, _fullness(name), wait_seconds)
                    logged = now
                continue
            waited = time.monotonic() - started
            if waited >= log_seconds:
                logger.info("got a slot of %s after waiting %.0f s", name, waited)
            break
        yield waited
