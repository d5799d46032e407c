"""Reconcile: compare what the source holds with what the target holds, through the links.

Both sides are read in full and mapped to canonical offerings; pandas joins them on the record
links into one frame with a status per record: ``missing`` (not in the target), ``drifted`` (a
shared field differs), ``ok``, and for target records no source record matched:
``missing_in_source`` (we created or adopted it and the source no longer lists it: what a sync's
delete policy acts on), ``retired`` (already deactivated by that policy) or ``extra`` (linked to
nothing: the target's own, which nothing here ever changes). Unlike a sync this holds both
sides' compared fields in memory. ``requeue`` makes the next sync re-send the missing and
drifted records; ``reconcile --fix`` then runs that sync with the pipeline's delete policy.

Ids are text in object columns: pandas 3's string dtype would turn a missing id into ``NaN``,
which prints as ``nan`` and is truthy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from offering_sync.engine import Counts, Pipeline, RunSummary, SyncOptions, sync_pipeline
from offering_sync.errors import InvalidRecord
from offering_sync.mapping import CompiledMapping
from offering_sync.model import validate_offering
from offering_sync.records import Page
from offering_sync.state import StateStore

__all__ = ["STATUSES", "Progress", "ReconcileReport", "reconcile", "repair", "requeue"]

Progress = Callable[[str, int, "int | None"], None]
"""Called after each page: (system being read, records read so far, its total or None)."""

STATUSES = ("ok", "missing", "extra", "drifted", "missing_in_source", "retired")

_NOT_COMPARED = {"source_system", "source_id", "external_id", "created_at", "modified_at",
                 "version", "term_ref", "course_ref", "location_ref"}


@dataclass
class ReconcileReport:
    """One row per record with its status and the fields that drifted."""

    frame: pd.DataFrame
    compared: list[str]

    @property
    def counts(self) -> dict[str, int]:
        """How many records per status."""
        counted = self.frame["status"].value_counts()
        return {s: int(counted.get(s, 0)) for s in STATUSES}

    @property
    def differences(self) -> int:
        """Records that need a look: everything but ``ok`` and ``retired``."""
        c = self.counts
        return c["missing"] + c["drifted"] + c["extra"] + c["missing_in_source"]

    def markdown(self, title: str, limit: int = 50) -> str:
        """A short report for a Prefect markdown artifact."""
        c = self.counts
        lines = [f"# {title}", "", "| ok | missing in target | extra in target | drifted "
                 "| missing in source | retired |", "|---|---|---|---|---|---|",
                 f"| {c['ok']} | {c['missing']} | {c['extra']} | {c['drifted']} "
                 f"| {c['missing_in_source']} | {c['retired']} |", "",
                 f"Compared fields: {', '.join(self.compared)}"]
        problems = self.frame[~self.frame["status"].isin(["ok", "retired"])].head(limit)
        if len(problems):
            lines += ["", "| status | source id | target id | fields |", "|---|---|---|---|"]
            lines += [f"| {row['status']} | {_text(row['source_id']) or ''} | "
                      f"{_text(row['target_id']) or ''} | {row['fields']} |"
                      for row in problems.to_dict("records")]
        return "\n".join(lines)


def _side(pages: Iterable[Page], mapping: CompiledMapping, id_field: str,
          fields: list[str], progress: Callable[[int, int | None], None] | None = None,
          seen: set[str] | None = None) -> pd.DataFrame:
    """The valid records of one side; ``seen`` collects every id read, invalid ones too."""
    rows: list[dict[str, Any]] = []
    read = 0
    for page in pages:
        read += len(page.records)
        if progress is not None:
            progress(read, page.total)
        for raw in page.records:
            if seen is not None and raw.get(id_field) is not None:
                seen.add(str(raw.get(id_field)))
            try:
                offering = validate_offering(mapping(raw))
            except InvalidRecord:
                continue  # the sync reports these; reconcile compares what is valid
            row = {f: getattr(offering, f) for f in fields}
            row["_id"] = str(raw.get(id_field))
            rows.append(row)
    return pd.DataFrame(rows, columns=["_id", *fields], dtype=object)


def _reporting(progress: Progress | None, system: str,
               ) -> Callable[[int, int | None], None] | None:
    if progress is None:
        return None
    return lambda count, total: progress(system, count, total)


def reconcile(pipeline: Pipeline, target_to_canonical: CompiledMapping, target_reader: Any,
              store: StateStore, *, progress: Progress | None = None) -> ReconcileReport:
    """Compare source and target for ``pipeline``; ``target_reader`` is the target as a source."""
    compared = sorted(set(pipeline.to_canonical.fields) & set(target_to_canonical.fields)
                      - _NOT_COMPARED)
    read: set[str] = set()  # every source id listed, even one that does not map: not gone
    source = _side(pipeline.source.pages(), pipeline.to_canonical, pipeline.source.id_field,
                   compared, _reporting(progress, pipeline.source.system), read)
    listed: set[str] = set()  # every target id listed, even one that does not map back
    target = _side(target_reader.pages(), target_to_canonical, target_reader.id_field, compared,
                   _reporting(progress, pipeline.target.system), listed)
    links = store.links_for(pipeline.source.system, pipeline.target.system, list(source["_id"]))
    source["target_id"] = pd.Series([links[s].target_id if s in links else None
                                     for s in source["_id"]], index=source.index, dtype=object)
    joined = source.merge(target, how="outer", left_on="target_id", right_on="_id",
                          suffixes=("_s", "_t"), indicator=True)
    records = joined.to_dict("records")
    unmatched = [t for row in records if row["_merge"] == "right_only"
                 if (t := _text(row.get("_id_t")))]
    ours = store.links_by_target(pipeline.source.system, pipeline.target.system, unmatched)
    rows = []
    for row in records:
        both = row["_merge"] == "both"
        drifted = [f for f in compared if both and not _same(row[f"{f}_s"], row[f"{f}_t"])]
        source_id, target_id = _text(row.get("_id_s")), _text(row.get("_id_t"))
        status = ("missing" if row["_merge"] == "left_only" else
                  "drifted" if drifted else "ok")
        linked_to = _text(row.get("target_id"))
        if status == "missing" and linked_to in listed:  # there, but edited past mapping back
            status, target_id = "drifted", linked_to
            drifted = ["(the target's record no longer maps back to an offering)"]
        if row["_merge"] == "right_only":
            link = ours.get(target_id or "")
            status = "extra"  # the target's own record, or one whose source does not map
            if link is not None and link.state != "active":
                status, source_id = "retired", link.source_id
            elif link is not None and link.source_id not in read:
                status, source_id = "missing_in_source", link.source_id
        rows.append({"status": status, "source_id": source_id, "target_id": target_id,
                     "fields": ", ".join(drifted)})
    frame = pd.DataFrame(rows, columns=["status", "source_id", "target_id", "fields"],
                         dtype=object)
    return ReconcileReport(frame, compared)


def requeue(store: StateStore, pipeline: Pipeline, report: ReconcileReport) -> int:
    """Forget the links of missing and drifted records so the next sync sends them again."""
    ids = report.frame.loc[report.frame["status"].isin(["missing", "drifted"]), "source_id"]
    chosen = [text for s in ids if (text := _text(s))]
    store.forget_links(pipeline.source.system, pipeline.target.system, chosen)
    return len(chosen)


def repair(store: StateStore, pipeline: Pipeline, report: ReconcileReport,
           options: SyncOptions, *, progress: Callable[[Counts], None] | None = None,
           ) -> RunSummary:
    """``reconcile --fix``: re-queue the missing and drifted records, then run one full sync.

    The sync is the ordinary one, so it applies the pipeline's own policies: it writes only the
    fields we own, it deactivates or deletes what the source no longer lists only as
    ``options.on_delete`` says and never past the mass-delete guard, and it leaves the target's
    own records (``extra``) alone. ``pipeline`` must be fresh (its connectors open).
    """
    requeue(store, pipeline, report)
    full = dataclasses.replace(options, full_refresh=True, since=None, until=None, mode="full")
    return sync_pipeline(pipeline, store, full, progress=progress)


def _same(a: Any, b: Any) -> bool:
    if _blank(a) and _blank(b):
        return True
    return bool(a == b)


def _blank(value: Any) -> bool:
    if value is None or value == "" or value == () or value == [] or value == {}:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str | None:
    return None if _blank(value) else str(value)
