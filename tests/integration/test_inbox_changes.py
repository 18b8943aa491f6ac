"""Read state resumes exactly: a change made while a connection was away reaches it on reconnect, on every transport."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_read_made_while_away_reaches_the_resuming_connection(server: HeraldServer, user_id: str,
                                                                     transport: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="read me elsewhere")["id"]
    async with subscribe(transport, server.url, token) as tab:
        cursor = (await tab.until("ready")).cursor
    # Away: another device reads it.
    answer = httpx.post(f"{server.url}/api/notifications/{item}/read", headers={"Authorization": f"Bearer {token}"})
    assert answer.json() == {"unreadCount": 0}
    async with subscribe(transport, server.url, token, cursor=cursor) as tab:
        read = await tab.until("read")
    assert read.data["ids"] == [item] and read.data["unreadCount"] == 0
    assert int(read.cursor) == int(cursor) + 1, "the change took the next sequence number"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_resume_past_the_change_does_not_repeat_it(server: HeraldServer, user_id: str, transport: str) -> None:
    token = server.token(user_id)
    item = server.publish(to={"users": [user_id]}, type="t", title="once")["id"]
    httpx.post(f"{server.url}/api/notifications/{item}/read", headers={"Authorization": f"Bearer {token}"})
    after = server.publish(to={"users": [user_id]}, type="t", title="after the read")["id"]
    async with subscribe(transport, server.url, token, cursor="2") as tab:
        assert (await tab.until("notification")).data["id"] == after
        with pytest.raises(asyncio.TimeoutError):
            await tab.until("read", timeout=0.5)


def test_the_list_since_a_cursor_carries_the_changes_after_it(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    headers = {"Authorization": f"Bearer {token}"}
    first = server.publish(to={"users": [user_id]}, type="t", title="one")["id"]
    server.publish(to={"users": [user_id]}, type="t", title="two")
    httpx.post(f"{server.url}/api/notifications/{first}/read", headers=headers)
    page = httpx.get(f"{server.url}/api/notifications", params={"since": "1"}, headers=headers).json()
    assert [item["title"] for item in page["items"]] == ["two"]
    assert page["changes"] == [{"type": "read", "cursor": "3", "ids": [first], "unreadCount": 1}]
    assert page["cursor"] == "3" and page["unreadCount"] == 1
    newest = httpx.get(f"{server.url}/api/notifications", headers=headers).json()
    assert newest["changes"] == []
