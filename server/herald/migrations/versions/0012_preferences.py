"""Preferences per category and channel, quiet hours, do not disturb, and the producer's category defaults

Revision ID: 0012
Revises: 0013

Hand-written so that it runs unchanged on SQLite and PostgreSQL. Self-contained: it touches no other table,
so it can be re-chained after any revision.
"""
from alembic import op
import sqlalchemy as sa


revision = "0012"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "preferences",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("quiet_hours", sa.JSON(), nullable=True),
        sa.Column("dnd_until", sa.BigInteger(), nullable=True),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("held_channels", sa.JSON(), nullable=True),
        sa.Column("digest_at", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name="pk_preferences"),
    )
    op.create_index("ix_preferences_digest_at", "preferences", ["digest_at"])
    op.create_table(
        "category_defaults",
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("category", name="pk_category_defaults"),
    )


def downgrade() -> None:
    op.drop_table("category_defaults")
    op.drop_index("ix_preferences_digest_at", table_name="preferences")
    op.drop_table("preferences")
