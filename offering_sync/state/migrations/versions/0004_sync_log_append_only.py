"""Fourth revision: the sync log is append-only, with no index but its key (issue 16).

Every index keyed by record costs each batch ~200 random inserts whose pages the commit writes
out again; three of them made the log cost a 100k sync more than the +10 % it may. History reads
the table instead, pruning walks the primary key (rows are appended in time order), and what a
list merge needs from our last write moves to the link: ``record_links.sent_payload``, filled
here from the log's newest successful row of each linked record.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record_links") as batch:
        batch.add_column(sa.Column("sent_payload", sa.Text(), nullable=True))
    # while the log's record index still exists: our last write of each linked record
    op.execute(sa.text("""
        UPDATE record_links SET sent_payload = (
            SELECT s.payload FROM sync_log s
            WHERE s.pipeline = record_links.source_system || '->' || record_links.target_system
              AND s.source_id = record_links.source_id AND s.status = 'ok'
              AND s.payload IS NOT NULL
            ORDER BY s.id DESC LIMIT 1)
    """))
    op.drop_index("ix_sync_log_source", table_name="sync_log")
    op.drop_index("ix_sync_log_external", table_name="sync_log")
    op.drop_index("ix_sync_log_created", table_name="sync_log")


def downgrade() -> None:
    op.create_index("ix_sync_log_source", "sync_log", ["pipeline", "source_id"])
    op.create_index("ix_sync_log_external", "sync_log", ["pipeline", "external_id"])
    op.create_index("ix_sync_log_created", "sync_log", ["created_at"])
    with op.batch_alter_table("record_links") as batch:
        batch.drop_column("sent_payload")
