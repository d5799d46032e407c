"""SQLAlchemy Core tables of the state store; Alembic migrations create them, this names them."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

__all__ = ["cursors", "dead_letters", "links", "locks", "metadata", "runs"]

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
    Index("ix_record_links_external", "source_system", "target_system", "external_id",
          unique=True),
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
)

locks = Table(
    "locks", metadata,
    Column("pipeline", String(120), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)
