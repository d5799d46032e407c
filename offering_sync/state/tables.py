"""SQLAlchemy Core tables of the state store; Alembic migrations create them, this names them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["cursors", "dead_letters", "intents", "links", "locks", "metadata", "runs", "sync_log",
           "token_mints", "tokens"]

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", String(36), primary_key=True),
    Column("pipeline", String(120), nullable=False, index=True),
    Column("source", String(40), nullable=False),
    Column("target", String(40), nullable=False),
    Column("mode", String(20), nullable=False),
    Column("params", Text, nullable=False, default="{}"),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(20), nullable=False),
    Column("extracted", Integer, nullable=False, default=0),
    Column("created", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("unchanged", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("details", Text),  # JSON: counts beyond the five columns (conflicts, missing, ...)
)

cursors = Table(
    "cursors", metadata,
    Column("pipeline", String(120), primary_key=True),
    Column("name", String(60), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

links = Table(
    "record_links", metadata,
    Column("source_system", String(40), primary_key=True),
    Column("target_system", String(40), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("external_id", String(255), nullable=False),
    Column("target_id", String(255)),
    Column("content_hash", String(64)),
    Column("run_id", String(36)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("target_version", Text),  # what the target said after our last write
    Column("source_version", Text),  # the source's version marker of what we last loaded
    Column("seen_run", String(36)),  # the last run that saw the record in the source
    Column("state", String(16), nullable=False, default="active"),
    # what we last wrote (canonical JSON), kept only by pipelines with ``on_update: merge`` fields
    Column("sent_payload", Text),
    Index("ix_record_links_external", "source_system", "target_system", "external_id",
          unique=True),
    Index("ix_record_links_target", "source_system", "target_system", "target_id"),
)

dead_letters = Table(
    "dead_letters", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False, index=True),
    Column("pipeline", String(120), nullable=False, index=True),
    Column("stage", String(20), nullable=False),
    Column("source_id", String(255)),
    Column("external_id", String(255)),
    Column("field", String(255)),
    Column("error", Text, nullable=False),
    Column("payload", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("resolved_by_run", String(36)),
    Column("attempts", Integer, nullable=False, default=1),
    Column("retry_at_run", Integer),  # the pipeline's run number from which to retry it
    Column("raw_hash", String(64)),  # the source record's hash: map failures retry on change
    Column("parked", Boolean, nullable=False, default=False),
)

locks = Table(
    "locks", metadata,
    Column("pipeline", String(120), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)

# -- second schema revision (0002) ---------------------------------------------------------------

intents = Table(
    "create_intents", metadata,
    Column("pipeline", String(120), primary_key=True),
    Column("external_id", String(255), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sync_log = Table(
    "sync_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("pipeline", String(120), nullable=False),
    Column("source_id", String(255)),
    Column("external_id", String(255)),
    Column("target_id", String(255)),
    Column("operation", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("content_hash", String(64)),
    Column("payload", Text),
    Column("error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # No index but the primary key (issue 16): an index keyed by record takes ~200 random
    # inserts per batch, each dirtying a page the commit then writes out, which made the log
    # cost a sync +16 % CPU. Rows are appended in id (= time) order: pruning walks the key;
    # history reads the table (see ``HistoryMixin.history``); what a list merge needs from our
    # last write is kept on the link (``record_links.sent_payload``).
)

tokens = Table(
    "token_cache", metadata,
    Column("key", String(128), primary_key=True),
    Column("ciphertext", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

token_mints = Table(
    "token_mints", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("system", String(40), nullable=False),
    Column("key", String(128), nullable=False),
    Column("minted_at", DateTime(timezone=True), nullable=False, index=True),
)
