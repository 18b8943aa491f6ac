"""Triage: seen, archived, snoozed and action state per inbox item; category and actions per notification

Revision ID: 0011
Revises: 0012

Hand-written so that it runs unchanged on SQLite and PostgreSQL: ``ADD COLUMN`` only (the
booleans with a server default, so existing rows read as not seen, not archived) and two
indexes: counts read a user's live unread rows from one index alone (``type`` and ``category``
are copied onto the item for that), the snooze sweep reads the due ones.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox_items", sa.Column("seen", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("inbox_items", sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("inbox_items", sa.Column("snoozed_until", sa.BigInteger(), nullable=True))
    op.add_column("inbox_items", sa.Column("action", sa.String(length=64), nullable=True))
    op.add_column("inbox_items", sa.Column("action_at", sa.BigInteger(), nullable=True))
    op.add_column("inbox_items", sa.Column("type", sa.String(length=100), nullable=True))
    op.add_column("inbox_items", sa.Column("category", sa.String(length=64), nullable=True))
    # Existing items take their notification's type once; new ones are written with it (inbox.py).
    op.execute("UPDATE inbox_items SET type = (SELECT n.type FROM notifications n WHERE n.id = inbox_items.notification_id)")
    op.create_index("ix_inbox_items_user_triage", "inbox_items",
                    ["user_id", "archived", "read", "snoozed_until", "seen", "type", "category"])
    op.create_index("ix_inbox_items_snoozed_until", "inbox_items", ["snoozed_until"])
    op.add_column("notifications", sa.Column("category", sa.String(length=64), nullable=True))
    op.add_column("notifications", sa.Column("actions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("actions")
        batch.drop_column("category")
    op.drop_index("ix_inbox_items_snoozed_until", table_name="inbox_items")
    op.drop_index("ix_inbox_items_user_triage", table_name="inbox_items")
    with op.batch_alter_table("inbox_items") as batch:
        for column in ("category", "type", "action_at", "action", "snoozed_until", "archived", "seen"):
            batch.drop_column(column)
