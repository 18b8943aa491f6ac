"""Delivery receipts: when a client first confirmed an inbox item

Revision ID: 0004
Revises: 0003

Hand-written so that it runs unchanged on SQLite and PostgreSQL: one
nullable column added to ``inbox_items`` (no table rebuild on either
database; the downgrade rebuilds it on SQLite through batch mode).
"""
from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox_items", sa.Column("delivered_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox_items") as batch:
        batch.drop_column("delivered_at")
