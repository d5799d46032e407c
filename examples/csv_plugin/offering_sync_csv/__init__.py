"""CSV files as an offering-sync system: read offerings from one, write offerings to one.

A plugin needs only what the core defines: settings, a Source and a Target that speak the seam
(``Page``, ``WriteRequest``, ``LoadResult``), mapping files, and a ``SystemSpec`` listed under
the ``offering_sync.systems`` entry point. The source streams the file page by page; the target
keeps one row per external id (our key is the upsert key), rewriting the file atomically.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from offering_sync.errors import ConfigError
from offering_sync.plugin import ApiCall, SystemSpec
from offering_sync.records import LoadResult, Page, WritePolicy, WriteRequest
from offering_sync.settings import read_settings

__all__ = ["SYSTEM", "CsvSettings", "CsvSource", "CsvTarget"]

COLUMNS = ("external_id", "id", "title", "description", "starts_at", "ends_at", "timezone",
           "capacity", "price", "currency")


class CsvSettings(BaseSettings):
    """``OFFERING_SYNC_CSV_*``: which file to read, which to write."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_CSV_", extra="ignore")

    source_file: Path | None = Field(default=None, description="CSV file read as a source")
    target_file: Path | None = Field(default=None, description="CSV file written as a target")
    page_size: int = Field(default=500, ge=1)


class CsvSource:
    """Streams a CSV file's rows as offerings (one page per ``page_size`` rows)."""

    system = "csv"
    id_field = "id"
    supports_modified_since = False

    def __init__(self, settings: CsvSettings) -> None:
        if settings.source_file is None or not settings.source_file.is_file():
            raise ConfigError(f"OFFERING_SYNC_CSV_SOURCE_FILE ({settings.source_file}) is not "
                              "a file")
        self.settings = settings

    @classmethod
    def from_settings(cls) -> CsvSource:
        """Built from the environment."""
        return cls(read_settings(CsvSettings))

    def pages(self, *, since: datetime | None = None, until: datetime | None = None,
              resume: str | None = None) -> Iterator[Page]:
        """Rows in pages; empty cells are left out, as vendors omit fields with no value."""
        path = self.settings.source_file
        assert path is not None
        with path.open(newline="", encoding="utf-8") as handle:
            page: list[dict[str, Any]] = []
            for row in csv.DictReader(handle):
                page.append({k: v for k, v in row.items() if k and v not in (None, "")})
                if len(page) >= self.settings.page_size:
                    yield Page(page)
                    page = []
            if page:
                yield Page(page)

    def close(self) -> None:
        """Nothing to release."""


class CsvTarget:
    """Keeps one row per external id in a CSV file."""

    system = "csv"
    max_batch = 1000
    upsert_key = True

    def __init__(self, settings: CsvSettings) -> None:
        if settings.target_file is None:
            raise ConfigError("OFFERING_SYNC_CSV_TARGET_FILE is not set")
        self.path = settings.target_file

    @classmethod
    def from_settings(cls) -> CsvTarget:
        """Built from the environment."""
        return cls(read_settings(CsvSettings))

    def upsert(self, batch: Sequence[WriteRequest], *, overwrite: bool,
               policy: WritePolicy) -> list[LoadResult]:
        """Write every row (ours replace the owned columns; other columns stay)."""
        rows = self._read()
        results = []
        for request in batch:
            existed = request.key in rows
            row = rows.setdefault(request.key, {"external_id": request.key})
            row.update({k: "" if v is None else str(v) for k, v in request.payload.items()})
            results.append(LoadResult(request.key, ok=True, target_id=request.key,
                                      action="updated" if existed else "created"))
        self._write(rows)
        return results

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        with self.path.open(newline="", encoding="utf-8") as handle:
            return {row["external_id"]: row for row in csv.DictReader(handle)}

    def _write(self, rows: dict[str, dict[str, str]]) -> None:
        columns = list(dict.fromkeys([*COLUMNS, *(k for r in rows.values() for k in r)]))
        handle, name = tempfile.mkstemp(dir=self.path.parent, suffix=".csv.tmp")
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows.values())
        os.replace(name, self.path)

    def close(self) -> None:
        """Nothing to release."""


SYSTEM = SystemSpec(
    slug="csv", title="CSV file (example plugin)", settings_class=CsvSettings,
    make_source=CsvSource.from_settings, make_target=CsvTarget.from_settings,
    mappings_dir=Path(__file__).parent / "mappings",
    record_fields=frozenset(COLUMNS), payload_fields=frozenset(COLUMNS),
    api_calls=(ApiCall("READ", "{OFFERING_SYNC_CSV_SOURCE_FILE}", doc="RFC 4180"),
               ApiCall("WRITE", "{OFFERING_SYNC_CSV_TARGET_FILE}", doc="RFC 4180")))
