"""Migration 0011 adds the triage columns with existing items untriaged, and removes them again, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import inbox_items, notifications
from tests.unit.migrations.support import ITEM, run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0011").down_revision)


def test_items_survive_0011_up_and_down_untriaged(url: str) -> None:
    migrate(url, BEFORE)
    run(url, *ITEM)
    migrate(url, "0011")
    rows, tables = run(url, "SELECT i.id, i.seen, i.archived, i.snoozed_until, i.action, n.category, n.actions, i.type "
                            "FROM inbox_items i JOIN notifications n ON n.id = i.notification_id")
    assert [tuple(bool(v) if k in (1, 2) else v for k, v in enumerate(row)) for row in rows] == [
        ("n1", False, False, None, None, None, None, "t")], "existing items take their notification's type"
    assert tables["inbox_items"] == {c.name for c in inbox_items.columns}
    assert tables["notifications"] == {c.name for c in notifications.columns}
    command.downgrade(alembic_config(url), BEFORE)
    rows, tables = run(url, "SELECT id FROM inbox_items")
    assert rows == [("n1",)]
    assert not {"seen", "archived", "snoozed_until", "action", "action_at", "type", "category"} & tables["inbox_items"]
    assert not {"category", "actions"} & tables["notifications"]
    migrate(url, "0011")
