"""Migration 0005 keeps queued Web Push rows across upgrade and downgrade, on both databases."""
from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from herald.db import alembic_config, migrate
from herald.models import push_jobs
from tests.unit.migrations.support import run

# Whatever 0005 follows once the lead has chained the branches.
BEFORE = str(ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_revision("0005").down_revision)
QUEUED = [
    "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) "
    "VALUES ('s1', 'u1', 'https://push.example/1', 'k', 'a', 1)",
    "INSERT INTO push_jobs (subscription_id, user_id, item_id, payload, urgency, topic, attempts, created_at, "
    "expires_at, next_attempt_at) VALUES ('s1', 'u1', 'i1', '{}', 'high', NULL, 0, 1, 2, 3)",
]


def test_queued_web_pushes_survive_0005_up_and_down(url: str) -> None:
    migrate(url, BEFORE)
    run(url, *QUEUED)
    migrate(url)
    rows, tables = run(url, "SELECT provider, subscription_id, device_id, item_id FROM push_jobs")
    assert rows == [("webpush", "s1", None, "i1")]  # it goes on as Web Push
    assert tables["push_jobs"] == {c.name for c in push_jobs.columns}
    assert {"devices", "device_pushes", "push_results"} <= set(tables)
    run(url, "INSERT INTO devices (id, user_id, platform, token, app, created_at) VALUES ('d1', 'u1', 'apns', 'ab', 'x', 1)",
        "INSERT INTO push_jobs (provider, device_id, user_id, item_id, payload, urgency, attempts, created_at, "
        "expires_at, next_attempt_at) VALUES ('apns', 'd1', 'u1', 'i2', '{}', '10', 0, 1, 2, 3)")
    command.downgrade(alembic_config(url), BEFORE)
    rows, tables = run(url, "SELECT subscription_id, item_id FROM push_jobs")
    assert rows == [("s1", "i1")] and "devices" not in tables  # device pushes had nowhere to go
    migrate(url)
    rows, _ = run(url, "SELECT provider, item_id FROM push_jobs")
    assert rows == [("webpush", "i1")]
