"""Retry dead letters now, by hand or from a deployment, reading each record from the source again.

Runs retry failed records on their own, with backoff; this is the operator's "try them all
now". Each record is re-read by id where the source can (so a record fixed in the source loads
as it is now); a record the source no longer has is resolved as gone; only a source that cannot
read by id replays the payload its dead letter kept.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from offering_sync.engine import Pipeline, RunSummary, SyncOptions, sync_pipeline
from offering_sync.records import Page, Raw, RecordReader
from offering_sync.state import DeadLetter, StateStore

__all__ = ["retry_dead_letters"]


def retry_dead_letters(store: StateStore, build: Callable[[str, str], Pipeline], *,
                       ids: Sequence[int] | None = None, pipeline: str | None = None,
                       options: SyncOptions | None = None) -> list[RunSummary]:
    """One retry run per pipeline; a record that loads, is already there or is gone is resolved.

    Dead letters that name no source record (undecodable items) cannot be retried and stay open.
    """
    letters = store.dead_letters(pipeline=pipeline, ids=ids, limit=1_000_000)
    by_pipeline: dict[str, list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        by_pipeline[letter.pipeline].append(letter)
    summaries = []
    for name, group in by_pipeline.items():
        source_ids = list(dict.fromkeys(d.source_id for d in group if d.source_id))
        if not source_ids:
            continue
        source, _, target = name.partition("->")
        built = build(source, target)
        seen: set[str] = set()
        try:
            opts = replace(options or SyncOptions(), mode="retry")
            summary = sync_pipeline(built, store, opts,
                                    records=_pages(built, group, source_ids, seen))
        finally:
            built.source.close()
            built.target.close()
        gone = [i for i in source_ids if i not in seen]
        if gone and isinstance(built.source, RecordReader):
            store.resolve_dead_letters(name, gone, summary.run_id)
            summary.details["gone_from_source"] = len(gone)
        summaries.append(summary)
    return summaries


def _pages(built: Pipeline, group: list[DeadLetter], source_ids: list[str],
           seen: set[str]) -> Iterator[Page]:
    id_field = built.source.id_field
    if isinstance(built.source, RecordReader):
        pages: Iterator[Page] = iter(built.source.read_ids(source_ids))
    else:
        pages = iter([Page([raw for d in group if (raw := _stored(d)) is not None])])
    for page in pages:
        seen.update(str(r.get(id_field)) for r in page.records if isinstance(r, dict))
        yield page


def _stored(letter: DeadLetter) -> Raw | None:
    try:
        value = json.loads(letter.payload or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
