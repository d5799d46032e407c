"""Re-run dead letters through their pipeline from the source payload each one kept."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace

from offering_sync.engine import Pipeline, RunSummary, SyncOptions, sync_pipeline
from offering_sync.records import Page, Raw
from offering_sync.state import DeadLetter, StateStore

__all__ = ["retry_dead_letters"]


def retry_dead_letters(store: StateStore, build: Callable[[str, str], Pipeline], *,
                       ids: Sequence[int] | None = None, pipeline: str | None = None,
                       options: SyncOptions | None = None) -> list[RunSummary]:
    """One retry run per pipeline; a record that loads (or is already there) is resolved.

    Dead letters whose payload is not a source record (undecodable items) cannot be retried and
    stay open.
    """
    letters = store.dead_letters(pipeline=pipeline, ids=ids, limit=1_000_000)
    by_pipeline: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        by_pipeline[letter.pipeline].append(letter)
    summaries = []
    for name, group in by_pipeline.items():
        records = [raw for letter in group if (raw := _record(letter)) is not None]
        if not records:
            continue
        source, _, target = name.partition("->")
        built = build(source, target)
        try:
            opts = replace(options or SyncOptions(), mode="retry")
            summaries.append(sync_pipeline(built, store, opts, records=[Page(records)]))
        finally:
            built.source.close()
            built.target.close()
    return summaries


def _record(letter: DeadLetter) -> Raw | None:
    try:
        value = json.loads(letter.payload or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
