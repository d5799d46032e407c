"""The state store: runs, cursors, record links, intents, dead letters, sync log, locks."""

from offering_sync.state.store import (
    DeadLetter,
    Intent,
    Link,
    LogEntry,
    LogRow,
    RunRecord,
    StateStore,
)

__all__ = ["DeadLetter", "Intent", "Link", "LogEntry", "LogRow", "RunRecord", "StateStore"]
