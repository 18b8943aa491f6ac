"""Dead letters of the log consumers: messages that can never be published, with their error

Revision ID: 0006
Revises: 0004

Hand-written so that it runs unchanged on SQLite and PostgreSQL.
"""
from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consume_dead_letters",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(300), nullable=False),
        sa.Column("message_key", sa.String(300), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consume_dead_letters"),
    )
    op.create_index("ix_consume_dead_letters_created_at", "consume_dead_letters", ["created_at"])
    op.create_index("ix_consume_dead_letters_source_message", "consume_dead_letters", ["source", "source_id"],
                    unique=True)


def downgrade() -> None:
    op.drop_table("consume_dead_letters")
