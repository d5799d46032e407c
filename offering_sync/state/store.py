"""StateStore: the only code that writes SQL. SQLite by default, any SQLAlchemy URL.

Opening a store runs the Alembic migrations to head. Every batch's links and dead letters are
written in one transaction, after the target confirmed them, so a crash loses at most the work
of the batch in flight and never records a write that did not happen. The store is assembled
from one part per concern: runs and cursors, locks, links and intents, dead letters, the sync
log and token cache.
"""

from __future__ import annotations

from offering_sync.state.base import safe_url
from offering_sync.state.dead_letters import DeadLetter
from offering_sync.state.history import HistoryMixin, LogRow
from offering_sync.state.links import Intent, Link, LogEntry
from offering_sync.state.runs import RunRecord, RunsMixin

__all__ = ["DeadLetter", "Intent", "Link", "LogEntry", "LogRow", "RunRecord", "StateStore",
           "safe_url"]


class StateStore(HistoryMixin, RunsMixin):
    """Runs, cursors, record links, intents, dead letters, sync log, tokens and locks."""
