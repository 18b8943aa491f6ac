"""Migration 0010 creates the webhook tables as models.py declares them, and removes them again, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import webhook_attempts, webhook_deliveries, webhook_endpoints
from tests.unit.migrations.support import run

BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0010").down_revision)
TABLES = (webhook_endpoints, webhook_deliveries, webhook_attempts)


def test_0010_up_down_and_up_again(url: str) -> None:  # noqa: F811 - the fixture
    migrate(url, "0010")
    _, tables = run(url)
    for table in TABLES:
        assert tables[table.name] == {c.name for c in table.columns}
    # Deleting an endpoint takes its queue and attempts along (the foreign keys cascade).
    # Herald's engine turns SQLite's foreign keys on for every connection (db.py); this one must say so itself.
    pragma = ("PRAGMA foreign_keys=ON",) if url.startswith("sqlite") else ()
    rows, _ = run(url, *pragma, "INSERT INTO webhook_endpoints (id, producer, url, events, secret, enabled, created_by, created_at)"
                       " VALUES ('e1', 'p', 'http://127.0.0.1/x', '[\"read\"]', 'whsec_x', true, 'alice', 1)",
                  "INSERT INTO webhook_deliveries (id, endpoint_id, type, body, status, attempts, created_at,"
                  " next_attempt_at) VALUES ('msg_1', 'e1', 'read', '{}', 'pending', 0, 1, 1)",
                  "INSERT INTO webhook_attempts (delivery_id, endpoint_id, at, latency_ms) VALUES ('msg_1', 'e1', 1, 3)",
                  "DELETE FROM webhook_endpoints", "SELECT count(*) FROM webhook_attempts")
    assert rows == [(0,)]
    command.downgrade(alembic_config(url), BEFORE)
    _, tables = run(url)
    assert not {table.name for table in TABLES} & set(tables)
    migrate(url, "0010")
