"""Rich content: an avatar and an image per notification.

Revision ID: 0013
Revises: 0008

Two nullable columns on ``notifications`` (``ADD COLUMN`` on SQLite and PostgreSQL alike):
items read them through their notification, as they read the title.
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("avatar_url", sa.String(length=2048), nullable=True))
    op.add_column("notifications", sa.Column("image_url", sa.String(length=2048), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("image_url")
        batch.drop_column("avatar_url")
