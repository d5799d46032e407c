"""A run's outcome as the Prefect state an operator reads in the runs list.

Every sync run ends with its counts in the state message. A run whose records did not all
sync ends in a *named* Completed state, "Completed with failures", so it is told apart from a
clean run at a glance (``prefect flow-run ls --state "Completed with failures"``, the UI's run
list) and the alert automation (``offering-sync ops setup``) can fire on it. A run the failure
ratio sank ends Failed.
"""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State
from prefect.states import Completed, Failed

from offering_sync.errors import SyncError

__all__ = ["WITH_FAILURES", "RunFailed", "counts_of", "counts_text", "final_state"]

WITH_FAILURES = "Completed with failures"
# Not counts, though they are whole numbers in the summary.
_NOT_COUNTS = {"batches", "api_calls"}


class RunFailed(SyncError):
    """The run ended failed; the message says why and what it did (the CLI prints it)."""


def counts_of(summary: dict[str, Any]) -> dict[str, int]:
    """The summary's counts, whatever counts the engine reports (new ones included)."""
    return {k: v for k, v in summary.items()
            if isinstance(v, int) and not isinstance(v, bool) and k not in _NOT_COUNTS}


def counts_text(counts: dict[str, int]) -> str:
    """``4,000 extracted · 3,907 created · 93 failed``: extracted first, zeros left out."""
    parts = [f"{counts.get('extracted', 0):,} extracted"]
    parts += [f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()
              if k != "extracted" and v]
    return " · ".join(parts)


def final_state(summary: dict[str, Any]) -> State[Any]:
    """The state a sync run ends in, carrying ``summary`` as its result."""
    counts = counts_of(summary)
    failed, extracted = counts.get("failed", 0), counts.get("extracted", 0)
    text = counts_text(counts)
    note = summary.get("message")
    prefix = "dry run: " if summary.get("dry_run") else ""
    if summary.get("status") == "failed":
        message = (f"{prefix}{failed:,} of {extracted:,} records failed, over the failure "
                   f"ratio ({note or 'see dead letters'}): {text}")
        return Failed(message=message, data=RunFailed(message))
    standing = counts.get("still_failing", 0)  # skipped: their earlier failure stands
    if failed or standing or summary.get("status") != "succeeded":
        why = f"{note}; " if note else ""
        return Completed(name=WITH_FAILURES, data=summary,
                         message=f"{prefix}{why}{failed + standing:,} of {extracted:,} records "
                         f"failed: see dead letters. {text}")
    return Completed(message=f"{prefix}{text}", data=summary)
