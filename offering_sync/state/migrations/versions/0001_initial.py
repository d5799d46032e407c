"""Initial state store: runs, cursors, record links, dead letters, locks.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("pipeline", sa.String(120), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("target", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("extracted", sa.Integer, nullable=False),
        sa.Column("created", sa.Integer, nullable=False),
        sa.Column("updated", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_index("ix_runs_pipeline", "runs", ["pipeline"])
    op.create_table(
        "cursors",
        sa.Column("pipeline", sa.String(120), primary_key=True),
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "record_links",
        sa.Column("source_system", sa.String(40), primary_key=True),
        sa.Column("target_system", sa.String(40), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("target_id", sa.String(255)),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("run_id", sa.String(36)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_record_links_external", "record_links",
                    ["source_system", "target_system", "external_id"], unique=True)
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("pipeline", sa.String(120), nullable=False),
        sa.Column("stage", sa.String(20), nullable=False),
        sa.Column("source_id", sa.String(255)),
        sa.Column("external_id", sa.String(255)),
        sa.Column("field", sa.String(255)),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("resolved_at", TS),
        sa.Column("resolved_by_run", sa.String(36)),
    )
    op.create_index("ix_dead_letters_run_id", "dead_letters", ["run_id"])
    op.create_index("ix_dead_letters_pipeline", "dead_letters", ["pipeline"])
    op.create_table(
        "locks",
        sa.Column("pipeline", sa.String(120), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("locks", "dead_letters", "record_links", "cursors", "runs"):
        op.drop_table(table)
