"""Triage: seen, archived, snoozed and action state per inbox item; category and actions per notification

Revision ID: 0011
Revises: 0008

Hand-written so that it runs unchanged on SQLite and PostgreSQL: ``ADD COLUMN`` only (the
booleans with a server default, so existing rows read as not seen, not archived) and two
indexes: counts and filtered lists read a user's live unread rows, the snooze sweep the due ones.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox_items", sa.Column("seen", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("inbox_items", sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("inbox_items", sa.Column("snoozed_until", sa.BigInteger(), nullable=True))
    op.add_column("inbox_items", sa.Column("action", sa.String(length=64), nullable=True))
    op.add_column("inbox_items", sa.Column("action_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_inbox_items_user_archived_read", "inbox_items", ["user_id", "archived", "read", "seen"])
    op.create_index("ix_inbox_items_snoozed_until", "inbox_items", ["snoozed_until"])
    op.add_column("notifications", sa.Column("category", sa.String(length=64), nullable=True))
    op.add_column("notifications", sa.Column("actions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("actions")
        batch.drop_column("category")
    op.drop_index("ix_inbox_items_snoozed_until", table_name="inbox_items")
    op.drop_index("ix_inbox_items_user_archived_read", table_name="inbox_items")
    with op.batch_alter_table("inbox_items") as batch:
        for column in ("action_at", "action", "snoozed_until", "archived", "seen"):
            batch.drop_column(column)
