"""offering-sync: keep course offerings in step between education systems.

The core is plain Python: the canonical model, the mapping engine, the state store and the sync
engine. Connectors (``connectors/``), emulators (``emulators/``) and Prefect flows (``flows/``)
sit around it.
"""

from offering_sync.engine import Counts, Pipeline, RunSummary, SyncOptions, sync_pipeline
from offering_sync.errors import ConfigError, InvalidRecord, MappingError, SyncError
from offering_sync.model import Address, DeliveryType, Offering, Schedule, validate_offering
from offering_sync.records import LoadResult, Page
from offering_sync.state import StateStore

__all__ = [
    "Address",
    "ConfigError",
    "Counts",
    "DeliveryType",
    "InvalidRecord",
    "LoadResult",
    "MappingError",
    "Offering",
    "Page",
    "Pipeline",
    "RunSummary",
    "Schedule",
    "StateStore",
    "SyncError",
    "SyncOptions",
    "sync_pipeline",
    "validate_offering",
]
__version__ = "0.1.0"
