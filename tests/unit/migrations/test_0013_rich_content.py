"""Migration 0013 adds the avatar and image columns as models.py declares them, and removes them again, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import notifications
from tests.unit.migrations.support import run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0013").down_revision)
ADDED = {"avatar_url", "image_url"}


def test_0013_up_down_and_up_again(url: str) -> None:
    migrate(url)  # the head: later migrations may add columns to the same table, and models.py has them all
    _, tables = run(url)
    assert tables["notifications"] == {c.name for c in notifications.columns}
    assert ADDED <= tables["notifications"]
    command.downgrade(alembic_config(url), BEFORE)
    _, tables = run(url)
    assert not ADDED & tables["notifications"]
    migrate(url)
