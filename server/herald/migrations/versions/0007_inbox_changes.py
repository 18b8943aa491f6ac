"""Inbox changes: state changes that take a sequence number and replay like items.

Revision ID: 0007
Revises: 0004

Hand-written so that it runs unchanged on SQLite and PostgreSQL: one new table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_changes",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "seq"),
    )
    op.create_index("ix_inbox_changes_created_at", "inbox_changes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_inbox_changes_created_at", table_name="inbox_changes")
    op.drop_table("inbox_changes")
