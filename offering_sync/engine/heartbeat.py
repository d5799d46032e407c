"""Keep the pipeline lock's heartbeat alive from a thread for the whole run.

Between pages is not enough: one batch stalled in retries or ``Retry-After`` waits, or waiting
for a Prefect concurrency slot, can outlast the lock's TTL, and another host would then take a
live run's lock. The thread beats on its own clock and notes when the lock is no longer ours.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Heartbeat"]

log = logging.getLogger("offering_sync.engine")


class Heartbeat:
    """Calls ``beat`` every ``every`` seconds until stopped; ``lost`` once it returns False."""

    def __init__(self, beat: Callable[[], bool], every: float) -> None:
        self._beat, self._every = beat, every
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._run, name="lock-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._beat():
                    self.lost = True
                    return
            except Exception as exc:  # noqa: BLE001 - a missed beat is retried on the next tick
                log.warning("lock heartbeat failed: %s", exc)
