"""The SSE stream: opening frames, live delivery, exact resume, isolation, framing."""
from __future__ import annotations

import asyncio
import random
import re

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream


async def test_stream_opens_with_retry_and_ready_carrying_cursor_and_unread(server: HeraldServer, user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="one")
    async with open_stream(server.url, server.token(user_id)) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        ready = await stream.next()
        assert ready.event == "ready"
        assert ready.retry is not None and ready.retry > 0
        assert ready.id == "1"
        assert ready.json() == {"unreadCount": 1}


async def test_live_notification_arrives_with_wire_fields(server: HeraldServer, user_id: str) -> None:
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        sent = server.publish(to={"users": [user_id]}, type="order.shipped", title="Your order shipped",
                              body="Order #1042", priority="high", groupKey="order:1042", url="/orders/1042",
                              data={"orderId": 1042})
        event = await stream.until("notification")
        item = event.json()
        assert item["id"] == sent["id"]
        assert {k: item[k] for k in ("type", "title", "body", "priority", "read", "groupKey", "url", "data")} == {
            "type": "order.shipped", "title": "Your order shipped", "body": "Order #1042", "priority": "high",
            "read": False, "groupKey": "order:1042", "url": "/orders/1042", "data": {"orderId": 1042}}
        assert isinstance(item["timestamp"], int) and item["timestamp"] > 1_700_000_000_000
        assert event.id == "1"


async def test_replay_after_random_drops_delivers_every_item_once_and_in_order(server: HeraldServer, user_id: str) -> None:
    rng = random.Random(1234)
    token = server.token(user_id)
    published: list[str] = []
    received: list[str] = []
    cursor = "0"  # a new inbox: everything after sequence 0
    for _ in range(12):
        # Items published while disconnected, then a connection that reads a random part and drops.
        for _ in range(rng.randint(0, 6)):
            published.append(server.publish(to={"users": [user_id]}, type="t", title=f"n{len(published)}")["id"])
        async with open_stream(server.url, token, last_event_id=cursor) as stream:
            ready = await stream.until("ready")
            cursor = ready.id
            backlog = len(published) - len(received)
            for _ in range(rng.randint(0, backlog)):
                event = await stream.until("notification")
                received.append(event.json()["id"])
                cursor = event.id
            # Sometimes publish while connected and read it live before dropping.
            if rng.random() < 0.5 and len(received) == len(published):
                published.append(server.publish(to={"users": [user_id]}, type="t", title="live")["id"])
                event = await stream.until("notification")
                received.append(event.json()["id"])
                cursor = event.id
    async with open_stream(server.url, token, last_event_id=cursor) as stream:
        await stream.until("ready")
        while len(received) < len(published):
            received.append((await stream.until("notification")).json()["id"])
        with pytest.raises(asyncio.TimeoutError):
            await stream.until("notification", timeout=0.5)
    assert received == published


async def test_resume_by_query_parameter_for_a_fresh_eventsource(server: HeraldServer, user_id: str) -> None:
    first = server.publish(to={"users": [user_id]}, type="t", title="one")["id"]
    second = server.publish(to={"users": [user_id]}, type="t", title="two")["id"]
    async with open_stream(server.url, server.token(user_id), query="?lastEventId=1") as stream:
        assert (await stream.until("ready")).id == "1"
        event = await stream.until("notification")
        assert event.json()["id"] == second != first
        assert event.id == "2"


async def test_header_cursor_wins_over_query_cursor(server: HeraldServer, user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="one")
    second = server.publish(to={"users": [user_id]}, type="t", title="two")["id"]
    async with open_stream(server.url, server.token(user_id), last_event_id="1", query="?lastEventId=0") as stream:
        assert (await stream.until("ready")).id == "1"
        assert (await stream.until("notification")).json()["id"] == second


async def test_urgent_item_jumps_the_backlog_without_moving_the_cursor_past_older_items(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    low = [server.publish(to={"users": [user_id]}, type="t", title=f"low{i}", priority="low")["id"] for i in range(3)]
    urgent = server.publish(to={"users": [user_id]}, type="t", title="fire", priority="urgent")["id"]
    async with open_stream(server.url, token, last_event_id="0") as stream:
        await stream.until("ready")
        first = await stream.until("notification")
        assert first.json()["id"] == urgent
        assert first.id == "0", "the cursor must not pass the three older items not yet written"
        rest = [await stream.until("notification") for _ in range(3)]
        assert [e.json()["id"] for e in rest] == low
        assert [e.id for e in rest] == ["1", "2", "4"]


async def test_drop_after_urgent_replays_older_items_and_client_dedup_sees_each_once(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    ids = [server.publish(to={"users": [user_id]}, type="t", title=f"m{i}")["id"] for i in range(2)]
    ids.append(server.publish(to={"users": [user_id]}, type="t", title="u", priority="urgent")["id"])
    seen: list[str] = []
    async with open_stream(server.url, token, last_event_id="0") as stream:
        await stream.until("ready")
        event = await stream.until("notification")
        seen.append(event.json()["id"])
        cursor = event.id
    async with open_stream(server.url, token, last_event_id=cursor) as stream:
        await stream.until("ready")
        for _ in range(3):
            seen.append((await stream.until("notification")).json()["id"])
    unique = list(dict.fromkeys(seen))
    assert sorted(unique) == sorted(ids)
    assert seen.count(ids[2]) == 2, "the urgent item is repeated, and only it"


async def test_two_users_never_see_each_others_items(server: HeraldServer, user_id: str) -> None:
    other = user_id + "-other"
    async with open_stream(server.url, server.token(user_id)) as mine, \
            open_stream(server.url, server.token(other)) as theirs:
        await mine.until("ready")
        await theirs.until("ready")
        server.publish(to={"users": [other]}, type="t", title="for other")
        mine_id = server.publish(to={"users": [user_id]}, type="t", title="for me")["id"]
        assert (await theirs.until("notification")).json()["title"] == "for other"
        assert (await mine.until("notification")).json()["id"] == mine_id
    listing = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    assert [item["title"] for item in listing.json()["items"]] == ["for me"]


async def test_field_values_cannot_break_sse_framing(server: HeraldServer, user_id: str) -> None:
    hostile = "line1\nevent: read\ndata: {\"all\":true}\r\n\r\nid: 999\rretry: 1"
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        server.publish(to={"users": [user_id]}, type="t", title=hostile[:200], body=hostile, data={"k": hostile})
        event = await stream.next()
        assert event.event == "notification"
        item = event.json()
        assert (item["title"], item["body"], item["data"]) == (hostile[:200], hostile, {"k": hostile})
        assert event.id == "1"


async def test_idle_stream_sends_comment_heartbeats(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_HEARTBEAT_SECONDS"] = "0.3"
    fresh_server.start()
    async with open_stream(fresh_server.url, fresh_server.token(user_id)) as stream:
        await stream.until("ready")
        with pytest.raises(asyncio.TimeoutError):
            await stream.next(timeout=1.0)
        assert stream.comments >= 2


async def test_resume_from_before_retention_gives_reset(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env.update(HERALD_RETENTION_SECONDS="1", HERALD_PRUNE_INTERVAL_SECONDS="0.2")
    fresh_server.start()
    token = fresh_server.token(user_id)
    fresh_server.publish(to={"users": [user_id]}, type="t", title="old")
    await asyncio.sleep(1.8)  # older than retention, and the pruner has run since
    kept = fresh_server.publish(to={"users": [user_id]}, type="t", title="new")["id"]
    async with open_stream(fresh_server.url, token, last_event_id="0") as stream:
        ready = await stream.next()
        assert ready.event == "ready" and ready.id == "2"
        assert (await stream.next()).event == "reset"
    listing = httpx.get(fresh_server.url + "/api/notifications", headers={"Authorization": f"Bearer {token}"}).json()
    assert [item["id"] for item in listing["items"]] == [kept]
    async with open_stream(fresh_server.url, token, last_event_id="1") as stream:
        assert (await stream.next()).event == "ready"
        assert (await stream.next()).json()["id"] == kept, "a cursor at the retention edge still resumes exactly"


async def test_cursor_ahead_of_the_inbox_gives_reset_not_silence(server: HeraldServer, user_id: str) -> None:
    async with open_stream(server.url, server.token(user_id), last_event_id="500") as stream:
        ready = await stream.next()
        assert (ready.event, ready.id) == ("ready", "0")
        assert (await stream.next()).event == "reset"
        sent = server.publish(to={"users": [user_id]}, type="t", title="after reset")["id"]
        assert (await stream.until("notification")).json()["id"] == sent


def sse_writes(server: HeraldServer) -> float:
    text = httpx.get(server.url + "/metrics").text
    match = re.search(r'^herald_connection_writes_total\{transport="sse"\} ([0-9.]+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_a_burst_to_one_connection_is_coalesced_into_few_writes(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_CONNECTION_WRITES_PER_SECOND"] = "2"
    fresh_server.start()
    async with open_stream(fresh_server.url, fresh_server.token(user_id)) as stream:
        await stream.until("ready")
        before = sse_writes(fresh_server)
        started = asyncio.get_running_loop().time()
        sent = [fresh_server.publish(to={"users": [user_id]}, type="t", title=f"#{i}")["id"] for i in range(30)]
        got = [(await stream.until("notification")).json()["id"] for _ in sent]
        elapsed = asyncio.get_running_loop().time() - started
    assert got == sent, "everything, once, in order"
    writes = sse_writes(fresh_server) - before
    assert 1 <= writes <= 2 * (elapsed + 1) + 1, f"30 items in {writes:g} writes over {elapsed:.1f} s: at most ~2 a second"


async def test_past_the_connections_per_user_the_oldest_is_told_and_closed(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_CONNECTIONS_PER_USER"] = "2"
    fresh_server.start()
    token = fresh_server.token(user_id)
    async with open_stream(fresh_server.url, token) as first, open_stream(fresh_server.url, token) as second:
        await first.until("ready")
        await second.until("ready")
        async with open_stream(fresh_server.url, token) as third:
            await third.until("ready")
            closed = await first.until("closed")
            assert closed.json() == {"reason": "too_many_connections"}
            with pytest.raises(EOFError):
                await first.next()
            sent = fresh_server.publish(to={"users": [user_id]}, type="t", title="to the two left")["id"]
            assert (await second.until("notification")).json()["id"] == sent
            assert (await third.until("notification")).json()["id"] == sent
