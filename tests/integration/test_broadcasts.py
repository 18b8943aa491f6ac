"""A broadcast to ``all`` is stored once and reaches every inbox, live and on reading, on every transport."""
from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import TRANSPORTS, subscribe, wait_for_receipt


def inbox(server: HeraldServer, user: str, **params: str) -> dict:  # type: ignore[type-arg]
    response = httpx.get(server.url + "/api/notifications", params=params,
                         headers={"Authorization": f"Bearer {server.token(user)}"}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def known(server: HeraldServer, *users: str) -> None:
    """Make users known to Herald the way a product does: a first notification of their own."""
    for user in users:
        server.publish(to={"users": [user]}, type="welcome", title=f"hello {user}")


def test_a_broadcast_writes_one_row_whatever_the_audience(server: HeraldServer, user_id: str) -> None:
    known(server, *(f"{user_id}-{n}" for n in range(30)))
    rows_before = server.sql("SELECT count(*) FROM inbox_items")[0][0]
    sent = server.publish(to={"all": True}, type="announce", title="Maintenance tonight")
    assert sent["recipients"] >= 30  # everyone Herald knows, counted, not written
    assert server.sql("SELECT count(*) FROM inbox_items")[0][0] == rows_before
    assert server.sql("SELECT count(*) FROM broadcasts WHERE notification_id = :n", n=sent["id"]) == [(1,)]
    # Each inbox takes it when read: one reader, one row.
    page = inbox(server, f"{user_id}-7")
    assert page["items"][0]["id"] == sent["id"] and page["items"][0]["read"] is False
    assert server.sql("SELECT count(*) FROM inbox_items WHERE notification_id = :n", n=sent["id"]) == [(1,)]


def test_a_user_new_after_the_broadcast_does_not_get_it(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    sent = server.publish(to={"all": True}, type="announce", title="Before you came")["id"]
    time.sleep(0.002)  # a user made in the same millisecond counts as known (broadcasts.py)
    later = user_id + "-later"
    known(server, later)
    assert sent in [item["id"] for item in inbox(server, user_id)["items"]]
    assert sent not in [item["id"] for item in inbox(server, later)["items"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_broadcast_reaches_an_open_stream_and_a_resume_brings_it_once(
        server: HeraldServer, user_id: str, transport: str) -> None:
    known(server, user_id)
    token = server.token(user_id)
    async with subscribe(transport, server.url, token) as sub:
        ready = await sub.until("ready")
        assert ready.data["unreadCount"] == 1
        sent = server.publish(to={"all": True}, type="announce", title="Live to everyone")["id"]
        live = await sub.until("notification")
        assert live.data["id"] == sent and live.data["read"] is False
    # Resuming from where the stream started brings it again, in the inbox order: a repeat the client drops by id.
    async with subscribe(transport, server.url, token, ready.cursor) as sub:
        again = await sub.until("ready")
        assert again.data["unreadCount"] == 2  # the welcome and the broadcast, exact
        replayed = await sub.until("notification")
        assert replayed.data["id"] == sent and replayed.cursor not in (None, ready.cursor)
        # A resume from that cursor has nothing more: no repeat.
    async with subscribe(transport, server.url, token, replayed.cursor) as sub:
        await sub.until("ready")
        server.publish(to={"users": [user_id]}, type="t", title="marker")
        assert (await sub.until("notification")).data["title"] == "marker"


async def test_reading_a_broadcast_seen_live_syncs_the_other_tab_and_the_count(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    token = server.token(user_id)
    async with subscribe("sse", server.url, token) as tab, subscribe("websocket", server.url, token) as other:
        await tab.until("ready")
        await other.until("ready")
        sent = server.publish(to={"all": True}, type="announce", title="Read me")["id"]
        assert (await tab.until("notification")).data["id"] == sent
        response = httpx.post(f"{server.url}/api/notifications/{sent}/read",
                              headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["unreadCount"] == 1  # the welcome is still unread
        read = await other.until("read")
        assert read.data["ids"] == [sent] and read.data["unreadCount"] == 1
    assert [item["read"] for item in inbox(server, user_id)["items"] if item["id"] == sent] == [True]


def test_read_all_covers_broadcasts_not_yet_in_the_inbox(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    for n in range(3):
        server.publish(to={"all": True}, type="announce", title=f"news {n}")
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    response = httpx.post(server.url + "/api/notifications/read-all", headers=headers, timeout=10)
    assert response.json() == {"unreadCount": 0}
    page = inbox(server, user_id)
    assert page["unreadCount"] == 0 and len(page["items"]) == 4


def test_list_pages_hold_broadcasts_in_the_inbox_order(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    start = inbox(server, user_id)["cursor"]
    sent = [server.publish(to={"all": True}, type="announce", title=f"b{n}")["id"] for n in range(5)]
    newer = inbox(server, user_id, since=start, limit="3")
    assert [item["id"] for item in newer["items"]] == sent[:3]
    rest = inbox(server, user_id, since=newer["cursor"], limit="10")
    assert [item["id"] for item in rest["items"]] == sent[3:]
    newest = inbox(server, user_id, limit="2")
    older = inbox(server, user_id, before=newest["nextBefore"], limit="10")
    assert [item["id"] for item in newest["items"] + older["items"]][:5] == sent[::-1]


async def test_a_retracted_broadcast_leaves_open_lists_and_never_reaches_later_readers(
        server: HeraldServer, user_id: str) -> None:
    away = user_id + "-away"
    known(server, user_id, away)
    async with subscribe("sse", server.url, server.token(user_id)) as sub:
        await sub.until("ready")
        sent = server.publish(to={"all": True}, type="announce", title="Oops")["id"]
        assert (await sub.until("notification")).data["id"] == sent
        response = httpx.delete(f"{server.url}/api/notifications/{sent}", headers=server.headers(), timeout=10)
        assert response.status_code in (200, 202, 204), response.text
        gone = await sub.until("retract")
        assert gone.data["ids"] == [sent]
    assert sent not in [item["id"] for item in inbox(server, away)["items"]]
    assert sent not in [item["id"] for item in inbox(server, user_id)["items"]]


def test_an_idempotent_broadcast_is_stored_once(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    body = {"to": {"all": True}, "type": "announce", "title": "Once", "idempotencyKey": f"b-{user_id}"}
    first, second = server.publish(**body), server.publish(**body)
    assert first == second
    assert server.sql("SELECT count(*) FROM broadcasts WHERE notification_id = :n", n=first["id"]) == [(1,)]
    assert [item["id"] for item in inbox(server, user_id)["items"]].count(first["id"]) == 1


async def test_two_tabs_opening_at_once_copy_a_broadcast_once(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    sent = server.publish(to={"all": True}, type="announce", title="Race")["id"]
    token = server.token(user_id)

    async def count() -> int:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            answer = await client.get("/api/notifications", headers={"Authorization": f"Bearer {token}"})
            return int(answer.json()["unreadCount"])

    assert set(await asyncio.gather(*(count() for _ in range(6)))) == {2}
    assert server.sql("SELECT count(*) FROM inbox_items WHERE user_id = :u AND notification_id = :n",
                      u=user_id, n=sent) == [(1,)]


def follow(server: HeraldServer, topic: str, user: str, on: bool = True) -> None:
    method = httpx.put if on else httpx.delete
    response = method(f"{server.url}/api/topics/{topic}/subscribers/{user}", headers=server.headers(), timeout=10)
    assert response.status_code == 204, response.text
    time.sleep(0.002)  # the follow's time is before what comes next, to the millisecond


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_topic_broadcast_reaches_its_followers_streams_only(
        server: HeraldServer, user_id: str, transport: str) -> None:
    topic, other = f"t-{user_id}", user_id + "-other"
    known(server, user_id, other)
    follow(server, topic, user_id)
    async with subscribe(transport, server.url, server.token(user_id)) as fan, \
            subscribe(transport, server.url, server.token(other)) as stranger:
        await fan.until("ready")
        await stranger.until("ready")
        sent = server.publish(to={"topic": topic}, type="deal", title="For followers")
        assert sent["recipients"] == 1
        assert (await fan.until("notification")).data["id"] == sent["id"]
        marker = server.publish(to={"users": [other]}, type="t", title="marker")["id"]
        assert (await stranger.until("notification")).data["id"] == marker  # and nothing before it
    assert server.sql("SELECT topic FROM broadcasts WHERE notification_id = :n", n=sent["id"]) == [(topic,)]
    assert sent["id"] in [item["id"] for item in inbox(server, user_id)["items"]]
    assert sent["id"] not in [item["id"] for item in inbox(server, other)["items"]]


async def test_a_follow_made_on_an_open_stream_hears_the_next_topic_broadcast(server: HeraldServer, user_id: str) -> None:
    topic = f"t-{user_id}"
    known(server, user_id)
    async with subscribe("websocket", server.url, server.token(user_id)) as sub:
        await sub.until("ready")
        follow(server, topic, user_id)
        await asyncio.sleep(0.2)  # the follow travels the bus to this node's connections
        sent = server.publish(to={"topic": topic}, type="deal", title="Just followed")["id"]
        assert (await sub.until("notification")).data["id"] == sent


def test_the_audience_of_a_topic_is_its_followers_at_publish_time(server: HeraldServer, user_id: str) -> None:
    topic, late, leaver = f"t-{user_id}", user_id + "-late", user_id + "-leaver"
    known(server, late, leaver)
    follow(server, topic, leaver)
    sent = server.publish(to={"topic": topic}, type="deal", title="Then")["id"]
    time.sleep(0.002)
    follow(server, topic, late)  # follow after: not received
    follow(server, topic, leaver, on=False)  # unfollow after: still in the inbox
    assert sent not in [item["id"] for item in inbox(server, late)["items"]]
    assert sent in [item["id"] for item in inbox(server, leaver)["items"]]


async def test_an_expiring_broadcast_leaves_the_open_lists_that_had_it_live(server: HeraldServer, user_id: str) -> None:
    known(server, user_id)
    async with subscribe("sse", server.url, server.token(user_id)) as sub:
        await sub.until("ready")
        sent = server.publish(to={"all": True}, type="flash", title="One second only", ttlSeconds=1)["id"]
        assert (await sub.until("notification")).data["id"] == sent
        gone = await sub.until("retract", timeout=10)
        assert gone.data["ids"] == [sent] and gone.data["reason"] == "expired"
    assert sent not in [item["id"] for item in inbox(server, user_id)["items"]]


async def test_a_broadcasts_live_event_carries_each_users_preferences(server: HeraldServer, user_id: str) -> None:
    """Do not disturb, a category's in-app channel off (the user's own, or the producer's default) mark the event."""
    category, muted = f"c{user_id.replace('-', '')}"[:60], f"m{user_id.replace('-', '')}"[:60]
    plain, quiet, late = user_id, user_id + "-dnd", user_id + "-late"
    known(server, plain, quiet, late)
    headers = server.headers()
    response = httpx.put(server.url + "/api/preferences/defaults", headers=headers, timeout=10, json={
        "categories": {muted: {"inApp": False}}})
    assert response.status_code == 200, response.text
    dnd = {"dndUntil": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}
    assert httpx.put(server.url + "/api/preferences", json=dnd, timeout=10,
                     headers={"Authorization": f"Bearer {server.token(quiet)}"}).status_code == 200
    await asyncio.sleep(1.2)  # the defaults are read at most once a second
    async with subscribe("sse", server.url, server.token(plain)) as a, \
            subscribe("websocket", server.url, server.token(quiet)) as b, \
            subscribe("sse", server.url, server.token(late)) as c:
        for sub in (a, b, c):
            await sub.until("ready")
        # Saved while the stream is open: its next broadcast is marked too.
        assert httpx.put(server.url + "/api/preferences", json={"categories": {category: {"inApp": False}}},
                         timeout=10, headers={"Authorization": f"Bearer {server.token(late)}"}).status_code == 200
        await asyncio.sleep(0.2)
        server.publish(to={"all": True}, type="news", title="marked", category=category)
        first = [(await sub.until("notification")).data for sub in (a, b, c)]
        server.publish(to={"all": True}, type="news", title="muted by default", category=muted)
        second = [(await sub.until("notification")).data for sub in (a, b, c)]
    assert "dnd" not in first[0] and "toast" not in first[0]
    assert first[1]["dnd"] is True and "toast" not in first[1]
    assert first[2]["toast"] is False and "dnd" not in first[2]
    assert [data.get("toast") for data in second] == [False, False, False]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_a_broadcast_acked_live_is_stamped_delivered(server: HeraldServer, user_id: str, transport: str) -> None:
    known(server, user_id)
    async with subscribe(transport, server.url, server.token(user_id)) as sub:
        await sub.until("ready")
        sent = server.publish(to={"all": True}, type="announce", title="Got it?")["id"]
        assert (await sub.until("notification")).data["id"] == sent
        await sub.ack([sent])
        assert wait_for_receipt(server, user_id, sent)[sent] is True
