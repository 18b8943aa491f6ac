"""Web Push: subscriptions and the durable queue of pending pushes

Revision ID: 0002
Revises: 0001

Hand-written so that it runs unchanged on SQLite and PostgreSQL: only
``create_table`` and ``create_index``, no ALTER of existing tables.
"""
from alembic import op
import sqlalchemy as sa


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("endpoint", sa.String(length=2048), nullable=False),
        sa.Column("p256dh", sa.String(length=128), nullable=False),
        sa.Column("auth", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_push_subscriptions"),
        sa.UniqueConstraint("endpoint", name="uq_push_subscriptions_endpoint"),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "push_jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscription_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=26), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("urgency", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["push_subscriptions.id"],
                                name="fk_push_jobs_subscription_id_push_subscriptions", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_push_jobs"),
    )
    op.create_index("ix_push_jobs_subscription_id", "push_jobs", ["subscription_id"])
    op.create_index("ix_push_jobs_next_attempt_at", "push_jobs", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_push_jobs_next_attempt_at", table_name="push_jobs")
    op.drop_index("ix_push_jobs_subscription_id", table_name="push_jobs")
    op.drop_table("push_jobs")
    op.drop_index("ix_push_subscriptions_user_id", table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
