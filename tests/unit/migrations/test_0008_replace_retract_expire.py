"""Migration 0008 adds the replace, silence, expiry and retraction columns and subscription_pushes, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import inbox_items, notifications, subscription_pushes
from tests.unit.migrations.support import ITEM, run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0008").down_revision)


def test_items_survive_0008_up_and_down(url: str) -> None:
    migrate(url, BEFORE)
    run(url, *ITEM)
    migrate(url)
    rows, tables = run(url, "SELECT i.id, i.replace_key, n.expires_at, n.silent, n.retracted_at "
                            "FROM inbox_items i JOIN notifications n ON n.id = i.notification_id")
    assert rows == [("n1", None, None, None, None)]
    assert tables["inbox_items"] == {c.name for c in inbox_items.columns}
    assert tables["notifications"] == {c.name for c in notifications.columns}
    assert tables["subscription_pushes"] == {c.name for c in subscription_pushes.columns}
    command.downgrade(alembic_config(url), BEFORE)
    rows, tables = run(url, "SELECT id FROM inbox_items")
    assert rows == [("n1",)]
    assert "replace_key" not in tables["inbox_items"] and "expires_at" not in tables["notifications"]
    assert "subscription_pushes" not in tables
    migrate(url)
