"""Third revision: find links by the target record's id.

Two pipelines that run both ways between two systems (A → B and B → A) must recognise, when
reading A, the records that B → A wrote there: they are found by (source, target, target id).
Reconcile uses the same index to tell our target records from the target's own.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_record_links_target", "record_links",
                    ["source_system", "target_system", "target_id"])


def downgrade() -> None:
    op.drop_index("ix_record_links_target", table_name="record_links")
