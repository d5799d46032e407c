"""The connector seam: Source and Target protocols and their record types (from the core)."""

from offering_sync.records import (
    Conflict,
    CreateIntent,
    LoadResult,
    Page,
    Raw,
    RecordReader,
    Retirer,
    Source,
    Target,
    TargetPlanner,
    WritePolicy,
    WriteRequest,
)

__all__ = ["Conflict", "CreateIntent", "LoadResult", "Page", "Raw", "RecordReader", "Retirer",
           "Source", "Target", "TargetPlanner", "WritePolicy", "WriteRequest"]
