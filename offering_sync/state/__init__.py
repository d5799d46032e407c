"""The state store: runs, cursors, record links, dead letters and pipeline locks."""

from offering_sync.state.store import DeadLetter, Link, RunRecord, StateStore

__all__ = ["DeadLetter", "Link", "RunRecord", "StateStore"]
