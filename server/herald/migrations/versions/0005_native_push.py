"""Native push: devices (FCM, APNs), one queue for every provider, read sync and results per channel

Revision ID: 0005
Revises: 0007 (after the merge of main; the lead re-chains)

Hand-written so that it runs unchanged on SQLite and PostgreSQL. ``push_jobs``
changes through batch mode: plain ALTERs on PostgreSQL, a copy of the table on
SQLite (which cannot make a column nullable in place); rows queued before the
upgrade keep going out as Web Push.
"""
from alembic import op
import sqlalchemy as sa


revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("platform", sa.String(length=8), nullable=False),
        sa.Column("token", sa.String(length=1024), nullable=False),
        sa.Column("app", sa.String(length=155), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("last_success_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("last_error_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("platform", "token", name="uq_devices_platform_token"),
    )
    op.create_index("ix_devices_user_id", "devices", ["user_id"])
    with op.batch_alter_table("push_jobs") as batch:
        batch.add_column(sa.Column("provider", sa.String(length=8), nullable=False, server_default="webpush"))
        batch.add_column(sa.Column("device_id", sa.String(length=26), nullable=True))
        batch.add_column(sa.Column("notification_id", sa.String(length=26), nullable=True))
        batch.alter_column("subscription_id", existing_type=sa.String(length=26), nullable=True)
        batch.create_foreign_key("fk_push_jobs_device_id_devices", "devices", ["device_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index("ix_push_jobs_device_id", ["device_id"])
        batch.create_index("ix_push_jobs_provider_due", ["provider", "next_attempt_at"])
    op.create_table(
        "device_pushes",
        sa.Column("device_id", sa.String(length=26), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("item_id", sa.String(length=26), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name="fk_device_pushes_device_id_devices",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("device_id", "item_id", name="pk_device_pushes"),
    )
    op.create_index("ix_device_pushes_at", "device_pushes", ["at"])
    op.create_index("ix_device_pushes_user_item", "device_pushes", ["user_id", "item_id"])
    op.create_table(
        "push_results",
        sa.Column("notification_id", sa.String(length=26), nullable=False),
        sa.Column("provider", sa.String(length=8), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "provider", name="pk_push_results"),
    )


def downgrade() -> None:
    op.drop_table("push_results")
    op.drop_index("ix_device_pushes_user_item", table_name="device_pushes")
    op.drop_index("ix_device_pushes_at", table_name="device_pushes")
    op.drop_table("device_pushes")
    # Pushes to devices have nowhere to go in the old schema.
    op.execute("DELETE FROM push_jobs WHERE subscription_id IS NULL")
    with op.batch_alter_table("push_jobs") as batch:
        batch.drop_index("ix_push_jobs_provider_due")
        batch.drop_index("ix_push_jobs_device_id")
        batch.drop_constraint("fk_push_jobs_device_id_devices", type_="foreignkey")
        batch.alter_column("subscription_id", existing_type=sa.String(length=26), nullable=False)
        batch.drop_column("notification_id")
        batch.drop_column("device_id")
        batch.drop_column("provider")
    op.drop_index("ix_devices_user_id", table_name="devices")
    op.drop_table("devices")
