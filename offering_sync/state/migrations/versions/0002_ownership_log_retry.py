"""Second revision: link versions and states, create intents, sync log, retry bookkeeping,
token cache and mint log, run details.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("details", sa.Text))
    with op.batch_alter_table("record_links") as batch:
        batch.add_column(sa.Column("target_version", sa.Text))
        batch.add_column(sa.Column("source_version", sa.Text))
        batch.add_column(sa.Column("seen_run", sa.String(36)))
        batch.add_column(sa.Column("state", sa.String(16), nullable=False,
                                   server_default="active"))
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer, nullable=False, server_default="1"))
        batch.add_column(sa.Column("retry_at_run", sa.Integer))
        batch.add_column(sa.Column("raw_hash", sa.String(64)))
        batch.add_column(sa.Column("parked", sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_index("ix_dead_letters_open", "dead_letters", ["pipeline", "source_id"])
    op.create_table(
        "create_intents",
        sa.Column("pipeline", sa.String(120), primary_key=True),
        sa.Column("external_id", sa.String(255), primary_key=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "sync_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("pipeline", sa.String(120), nullable=False),
        sa.Column("source_id", sa.String(255)),
        sa.Column("external_id", sa.String(255)),
        sa.Column("target_id", sa.String(255)),
        sa.Column("operation", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("payload", sa.Text),
        sa.Column("error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_sync_log_source", "sync_log", ["pipeline", "source_id"])
    op.create_index("ix_sync_log_external", "sync_log", ["pipeline", "external_id"])
    op.create_index("ix_sync_log_created", "sync_log", ["created_at"])
    op.create_table(
        "token_cache",
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("ciphertext", sa.Text, nullable=False),
        sa.Column("expires_at", TS),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "token_mints",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("minted_at", TS, nullable=False),
    )
    op.create_index("ix_token_mints_minted_at", "token_mints", ["minted_at"])


def downgrade() -> None:
    for table in ("token_mints", "token_cache", "sync_log", "create_intents"):
        op.drop_table(table)
    op.drop_index("ix_dead_letters_open", "dead_letters")
    with op.batch_alter_table("dead_letters") as batch:
        for column in ("parked", "raw_hash", "retry_at_run", "attempts"):
            batch.drop_column(column)
    with op.batch_alter_table("record_links") as batch:
        for column in ("state", "seen_run", "source_version", "target_version"):
            batch.drop_column(column)
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("details")
