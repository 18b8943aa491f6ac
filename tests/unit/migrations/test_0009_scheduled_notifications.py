"""Migration 0009 makes the table the models describe, and goes down and up again, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import scheduled_notifications
from tests.unit.migrations.support import run

# Whatever 0009 follows once the lead has chained the branches.
BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0009").down_revision)
ROW = ("INSERT INTO scheduled_notifications (id, producer, request, target, send_at, replace_key, created_at, status) "
       "VALUES ('01ARZ3NDEKTSV4RRFFQ69G5FAV', 'p', '{}', '{\"users\": [\"u1\"]}', 5, 'k', 1, 'pending')")


def test_0009_creates_the_scheduled_table_and_goes_down_and_up(url: str) -> None:  # noqa: F811
    migrate(url)
    rows, tables = run(url, ROW, "SELECT id, status, send_at FROM scheduled_notifications")
    assert rows == [("01ARZ3NDEKTSV4RRFFQ69G5FAV", "pending", 5)]
    assert tables["scheduled_notifications"] == {c.name for c in scheduled_notifications.columns}
    command.downgrade(alembic_config(url), BEFORE)
    _, tables = run(url, "SELECT 1")
    assert "scheduled_notifications" not in tables
    migrate(url)
    rows, _ = run(url, "SELECT count(*) FROM scheduled_notifications")
    assert rows == [(0,)]
