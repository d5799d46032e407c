"""The sync engine: one run of one pipeline, plain Python, no Prefect.

``sync_pipeline`` (run.py) is the algorithm; ``load.py`` sends batches, ``retire.py`` handles
offerings gone from the source, ``heartbeat.py`` keeps the lock alive, ``options.py`` holds the
plain data a run is given and reports.
"""

from offering_sync.engine.load import SystemicFailure
from offering_sync.engine.options import Counts, DeletePolicy, Pipeline, RunSummary, SyncOptions
from offering_sync.engine.retire import MassDeleteRefused
from offering_sync.engine.run import sync_pipeline

__all__ = ["Counts", "DeletePolicy", "MassDeleteRefused", "Pipeline", "RunSummary",
           "SyncOptions", "SystemicFailure", "sync_pipeline"]
