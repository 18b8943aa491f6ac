"""Scheduled notifications: publishes with ``sendAt`` kept until their time.

Revision ID: 0009
Revises: 0005

Hand-written so that it runs unchanged on SQLite and PostgreSQL: one new table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_notifications",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("producer", sa.String(length=64), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("send_at", sa.BigInteger(), nullable=False),
        sa.Column("replace_key", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("finished_by", sa.String(length=64), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_notifications"),
    )
    op.create_index("ix_scheduled_notifications_status_send_at", "scheduled_notifications", ["status", "send_at"])
    op.create_index("ix_scheduled_notifications_replace_key", "scheduled_notifications", ["replace_key"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_notifications_replace_key", table_name="scheduled_notifications")
    op.drop_index("ix_scheduled_notifications_status_send_at", table_name="scheduled_notifications")
    op.drop_table("scheduled_notifications")
