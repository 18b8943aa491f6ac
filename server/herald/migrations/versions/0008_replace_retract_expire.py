"""Replace by key, silent updates, retract and expiry: the columns they need.

Revision ID: 0008
Revises: 0010

Hand-written so that it runs unchanged on SQLite and PostgreSQL: new nullable
columns only (``ADD COLUMN`` on both), two indexes, and ``subscription_pushes``
(which browsers were pushed which item, so a retract closes it there).
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("inbox_items", sa.Column("replace_key", sa.String(length=200), nullable=True))
    op.create_index("ix_inbox_items_user_replace", "inbox_items", ["user_id", "replace_key"])
    op.add_column("notifications", sa.Column("replace_key", sa.String(length=200), nullable=True))
    op.add_column("notifications", sa.Column("silent", sa.Boolean(), nullable=True))
    op.add_column("notifications", sa.Column("expires_at", sa.BigInteger(), nullable=True))
    op.add_column("notifications", sa.Column("retracted_at", sa.BigInteger(), nullable=True))
    op.create_index("ix_notifications_expires_at", "notifications", ["expires_at"])
    op.create_table(
        "subscription_pushes",
        sa.Column("subscription_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=26), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["push_subscriptions.id"], ondelete="CASCADE",
                                name="fk_subscription_pushes_subscription_id_push_subscriptions"),
        sa.PrimaryKeyConstraint("subscription_id", "item_id", name="pk_subscription_pushes"),
    )
    op.create_index("ix_subscription_pushes_at", "subscription_pushes", ["at"])
    op.create_index("ix_subscription_pushes_user_item", "subscription_pushes", ["user_id", "item_id"])


def downgrade() -> None:
    op.drop_index("ix_subscription_pushes_user_item", table_name="subscription_pushes")
    op.drop_index("ix_subscription_pushes_at", table_name="subscription_pushes")
    op.drop_table("subscription_pushes")
    op.drop_index("ix_notifications_expires_at", table_name="notifications")
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("retracted_at")
        batch.drop_column("expires_at")
        batch.drop_column("silent")
        batch.drop_column("replace_key")
    op.drop_index("ix_inbox_items_user_replace", table_name="inbox_items")
    with op.batch_alter_table("inbox_items") as batch:
        batch.drop_column("replace_key")
