"""Expiry (expiresAt, ttlSeconds): the item leaves inboxes and lists live, as a retract, on both databases."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer, RedisServer, create_postgres_database, drop_postgres_database
from tests.transports import TRANSPORTS, subscribe


def inbox(server: HeraldServer, user_id: str, **params: str) -> dict:
    response = httpx.get(f"{server.url}/api/notifications", params=params,
                         headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert response.status_code == 200, response.text
    return response.json()


def rfc3339(seconds_ahead: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds_ahead)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_expired_item_disappears_live(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    keep = server.publish(to={"users": [user_id]}, type="t", title="stays")["id"]
    async with subscribe(transport, server.url, token) as tab:
        await tab.until("ready")
        brief = server.publish(to={"users": [user_id]}, type="t", title="flash sale", ttlSeconds=1)["id"]
        assert (await tab.until("notification")).data["id"] == brief
        started = time.monotonic()
        change = await tab.until("retract", timeout=5)
    assert change.data == {**change.data, "ids": [brief], "reason": "expired", "unreadCount": 1}
    assert time.monotonic() - started < 3, "gone within a sweep or two of its expiry"
    assert [item["id"] for item in inbox(server, user_id)["items"]] == [keep]


def test_expires_at_is_an_rfc3339_time(server: HeraldServer, user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="soon", expiresAt=rfc3339(1.2))
    later = server.publish(to={"users": [user_id]}, type="t", title="later", expiresAt=rfc3339(3600))["id"]
    deadline = time.monotonic() + 5
    while server.sql("SELECT count(*) FROM inbox_items WHERE user_id = :u", u=user_id) != [(1,)]:
        assert time.monotonic() < deadline, "the expired item stayed"
        time.sleep(0.1)
    assert [item["id"] for item in inbox(server, user_id)["items"]] == [later]
    kinds = server.sql("SELECT kind FROM inbox_changes WHERE user_id = :u", u=user_id)
    assert kinds == [("retract",)]


BAD = [
    ({"ttlSeconds": 0}, None), ({"ttlSeconds": 30 * 86400 + 1}, None),
    ({"ttlSeconds": 60, "expiresAt": rfc3339(60)}, 'Give "expiresAt" or "ttlSeconds", not both.'),
    ({"expiresAt": rfc3339(-5)}, '"expiresAt" is in the past.'),
    ({"expiresAt": rfc3339(31 * 86400)}, '"expiresAt" must be at most 30 days ahead.'),
    ({"expiresAt": "2030-01-01T00:00:00"}, None),  # no offset: which zone?
    ({"expiresAt": "tomorrow"}, None), ({"expiresAt": 1900000000}, None),
    ({"silent": "yes"}, None),
]


@pytest.mark.parametrize(("extra", "message"), BAD)
def test_bad_expiry_is_a_400_with_the_contract_body(server: HeraldServer, user_id: str, extra: dict,
                                                    message: str | None) -> None:
    response = httpx.post(server.url + "/api/publish", headers=server.headers(),
                          json={"to": {"users": [user_id]}, "type": "t", "title": "x", **extra})
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == "invalid_request"
    if message:
        assert body["message"] == message
    assert inbox(server, user_id)["items"] == [], "nothing was stored"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def slow_sweep(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """A server whose sweeper practically never runs: what readers see before it comes by."""
    database_url = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path_factory.mktemp(f"slow-sweep-{request.param}"), database_url,
                          HERALD_EXPIRY_SWEEP_SECONDS="3600").start()
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_pages_and_replays_never_show_an_expired_item_even_before_the_sweep(
        slow_sweep: HeraldServer, user_id: str, transport: str) -> None:
    server = slow_sweep
    # The sweeper ran once at start; from now on only readers can hide the item.
    server.publish(to={"users": [user_id]}, type="t", title="brief", ttlSeconds=1)
    keep = server.publish(to={"users": [user_id]}, type="t", title="stays")["id"]
    time.sleep(1.3)
    assert server.sql("SELECT count(*) FROM inbox_items WHERE user_id = :u", u=user_id) == [(2,)], "not swept"
    assert [i["id"] for i in inbox(server, user_id)["items"]] == [keep]
    assert [i["id"] for i in inbox(server, user_id, since="0")["items"]] == [keep]
    assert [i["id"] for i in inbox(server, user_id, before="3")["items"]] == [keep]
    async with subscribe(transport, server.url, server.token(user_id), cursor="0") as tab:
        assert (await tab.until("notification")).data["id"] == keep


def test_two_nodes_sweeping_one_database_announce_each_expiry_once(
        tmp_path: Path, redis_server: RedisServer, user_id: str) -> None:
    database = create_postgres_database()
    shared = {"HERALD_REDIS_URL": redis_server.url, "HERALD_EXPIRY_SWEEP_SECONDS": "0.05"}
    a = HeraldServer(tmp_path / "a", database, **shared).start()
    b = HeraldServer(tmp_path / "b", database, HERALD_MIGRATE_ON_START="false", **shared).start()
    try:
        users = [f"{user_id}-{n}" for n in range(20)]
        a.publish(to={"users": users}, type="t", title="brief", ttlSeconds=1)
        deadline = time.monotonic() + 5
        while a.sql("SELECT count(*) FROM inbox_items WHERE user_id LIKE :p", p=f"{user_id}-%") != [(0,)]:
            assert time.monotonic() < deadline, "never swept"
            time.sleep(0.1)
        time.sleep(0.3)
        changes = a.sql("SELECT user_id, count(*) FROM inbox_changes WHERE user_id LIKE :p GROUP BY user_id",
                        p=f"{user_id}-%")
        assert sorted(changes) == sorted((user, 1) for user in users), "one retract per user, whichever node swept"
    finally:
        a.stop()
        b.stop()
        drop_postgres_database(database)
