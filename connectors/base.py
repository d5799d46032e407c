"""The connector seam: Source and Target protocols and their record types (from the core)."""

from offering_sync.records import Conflict, LoadResult, Page, Raw, Source, Target

__all__ = ["Conflict", "LoadResult", "Page", "Raw", "Source", "Target"]
