"""Migration 0014 adds the broadcast log with existing users at mark 0, and removes it again, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import broadcast_head, broadcasts, topic_follows_ended, users
from tests.unit.migrations.support import ITEM, run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0014").down_revision)
USER = "INSERT INTO users (user_id, last_seq, pruned_seq, created_at) VALUES ('u1', 1, 0, 1)"


def test_users_and_items_survive_0014_up_and_down(url: str) -> None:
    migrate(url, BEFORE)
    run(url, USER, *ITEM)
    migrate(url, "0014")
    rows, tables = run(url, "SELECT u.user_id, u.broadcast_mark, h.last_bseq FROM users u, broadcast_head h")
    # Mark 0 is exact: before this revision no broadcast row existed, and the head starts there.
    assert rows == [("u1", 0, 0)]
    for table in (users, broadcasts, broadcast_head, topic_follows_ended):
        assert tables[table.name] == {c.name for c in table.columns}
    command.downgrade(alembic_config(url), BEFORE)
    rows, tables = run(url, "SELECT i.id, u.last_seq FROM inbox_items i JOIN users u ON u.user_id = i.user_id")
    assert rows == [("n1", 1)]
    assert "broadcast_mark" not in tables["users"]
    assert not {"broadcasts", "broadcast_head", "topic_follows_ended"} & set(tables)
    migrate(url, "0014")
