"""Fan-out on read (issue 22): a broadcast log, each user's mark in it, and ended topic follows

Revision ID: 0014
Revises: 0011

A publish to ``all`` or a topic becomes one ``broadcasts`` row instead of one inbox row per
recipient; each inbox copies what it has not yet seen when its user next reads it
(broadcasts.py). ``users.broadcast_mark`` starts at 0 for existing users, which is exact:
before this revision no broadcast row existed.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("broadcast_mark", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_table(
        "broadcasts",
        sa.Column("bseq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("notification_id", sa.String(length=26), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("bseq", name=op.f("pk_broadcasts")),
    )
    op.create_index(op.f("ix_broadcasts_notification_id"), "broadcasts", ["notification_id"])
    op.create_index(op.f("ix_broadcasts_created_at"), "broadcasts", ["created_at"])
    op.create_table(
        "broadcast_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_bseq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_head")),
    )
    op.execute("INSERT INTO broadcast_head (id, last_bseq) VALUES (1, 0)")
    op.create_table(
        "topic_follows_ended",
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("followed_at", sa.BigInteger(), nullable=False),
        sa.Column("ended_at", sa.BigInteger(), nullable=False),
    )
    op.create_index(op.f("ix_topic_follows_ended_ended_at"), "topic_follows_ended", ["ended_at"])
    op.create_index("ix_topic_follows_ended_user_topic", "topic_follows_ended", ["user_id", "topic"])
    op.create_index("ix_topic_subscribers_user_id", "topic_subscribers", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_topic_subscribers_user_id", "topic_subscribers")
    op.drop_table("topic_follows_ended")
    op.drop_table("broadcast_head")
    op.drop_table("broadcasts")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("broadcast_mark")
