"""Fourth revision: the sync log keeps one index, by record (issue 16).

Every index on the log is paid for on every row a sync writes; three of them made the log cost
more than the +10 % a sync may pay for it. History finds a record by its source id (an external
id is turned into source ids through the links and dead letters first), and pruning walks the
primary key, which is in time order, so the external-id and time indexes go.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_sync_log_source", table_name="sync_log")
    op.drop_index("ix_sync_log_external", table_name="sync_log")
    op.drop_index("ix_sync_log_created", table_name="sync_log")
    op.create_index("ix_sync_log_record", "sync_log", ["source_id", "pipeline"])


def downgrade() -> None:
    op.drop_index("ix_sync_log_record", table_name="sync_log")
    op.create_index("ix_sync_log_source", "sync_log", ["pipeline", "source_id"])
    op.create_index("ix_sync_log_external", "sync_log", ["pipeline", "external_id"])
    op.create_index("ix_sync_log_created", "sync_log", ["created_at"])
