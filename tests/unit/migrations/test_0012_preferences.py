"""Migration 0012 creates the preference tables as models.py declares them, and removes them, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import category_defaults, preferences
from tests.unit.migrations.support import run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0012").down_revision)
TABLES = (preferences, category_defaults)


def test_0012_up_down_and_up_again(url: str) -> None:
    migrate(url, "0012")
    _, tables = run(url)
    for table in TABLES:
        assert tables[table.name] == {c.name for c in table.columns}
    rows, _ = run(url, "INSERT INTO preferences (user_id, time_zone, quiet_hours, held, digest_at, updated_at)"
                       " VALUES ('u1', 'Europe/Berlin', '[]', 3, 5, 1)",
                  "INSERT INTO category_defaults (category, critical, channels, updated_at)"
                  " VALUES ('security', true, '{}', 1)",
                  "SELECT held FROM preferences WHERE digest_at <= 5")
    assert rows == [(3,)]
    command.downgrade(alembic_config(url), BEFORE)
    _, tables = run(url)
    assert not {table.name for table in TABLES} & set(tables)
    migrate(url, "0012")
