"""The producer API against a real Herald: every target, idempotency, tokens, groups, topics, retries."""
from __future__ import annotations

import asyncio
import logging
import time

import httpx
import pytest
from herald_client import AsyncHerald, Herald, RateLimited, Subscriber, Target

from tests.herald_server import HeraldServer


def inbox(server: HeraldServer, user: str) -> list[dict]:
    answer = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {server.token(user)}"})
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_publish_with_every_field_reaches_the_inbox_as_sent(herald: HeraldServer, producer: Herald, user_id: str) -> None:
    result = producer.publish(Target.users(user_id), type="order.shipped", title="Your order shipped",
                              body="Order #1042 is on its way", priority="high", group_key="order:1042",
                              url="/orders/1042", data={"orderId": 1042}, actor="Shop")
    assert result.recipients == 1 and result.idempotency_key
    (item,) = inbox(herald, user_id)
    assert item["id"] == result.id
    assert {k: item[k] for k in ("type", "title", "body", "priority", "groupKey", "url", "data", "actors")} == {
        "type": "order.shipped", "title": "Your order shipped", "body": "Order #1042 is on its way",
        "priority": "high", "groupKey": "order:1042", "url": "/orders/1042", "data": {"orderId": 1042},
        "actors": ["Shop"]}


def test_publish_to_a_group_a_topic_and_everyone(herald: HeraldServer, producer: Herald, user_id: str) -> None:
    a, b = f"{user_id}-a", f"{user_id}-b"
    assert producer.put_group(f"g-{user_id}", [a, b]).users == [a, b]
    assert producer.get_group(f"g-{user_id}").users == [a, b]
    assert producer.publish(Target.group(f"g-{user_id}"), type="t", title="to the group").recipients == 2
    producer.follow(f"topic-{user_id}", a)
    assert producer.followers(f"topic-{user_id}") == [a]
    assert producer.publish(Target.topic(f"topic-{user_id}"), type="t", title="to the topic").recipients == 1
    everyone = producer.publish(Target.all(), type="t", title=f"to all {user_id}")
    assert everyone.recipients is not None and everyone.recipients >= 2
    assert [i["title"] for i in inbox(herald, a)][:3] == [f"to all {user_id}", "to the topic", "to the group"]
    assert [i["title"] for i in inbox(herald, b)][:2] == [f"to all {user_id}", "to the group"]
    producer.unfollow(f"topic-{user_id}", a)
    assert producer.followers(f"topic-{user_id}") == []
    producer.delete_group(f"g-{user_id}")


async def test_a_live_channel_event_reaches_subscribers_and_no_inbox(herald: HeraldServer, user_id: str) -> None:
    channel = f"live-{user_id}"
    async with AsyncHerald(herald.url, herald.api_key) as async_producer:
        token = (await async_producer.mint_token(user_id)).token
        async with Subscriber(herald.url, token=token, channels=[channel]) as sub:
            events = sub.events()
            assert type(await anext(events)).__name__ == "Ready"
            sent = await async_producer.publish(Target.channel(channel), type="score", title="2-1", data={"m": 9})
            assert (sent.recipients, sent.idempotency_key) == (None, None)
            live = await asyncio.wait_for(anext(events), 10)
            await events.aclose()
    assert (type(live).__name__, live.id, live.channel, live.title, live.data) == ("LiveEvent", sent.id, channel, "2-1", {"m": 9})
    assert inbox(herald, user_id) == []


def test_the_same_idempotency_key_delivers_once(herald: HeraldServer, producer: Herald, user_id: str) -> None:
    first = producer.publish(Target.users(user_id), type="t", title="once", idempotency_key=f"k-{user_id}")
    again = producer.publish(Target.users(user_id), type="t", title="once", idempotency_key=f"k-{user_id}")
    assert again.id == first.id
    other = producer.publish(Target.users(user_id), type="t", title="once")  # a fresh key of its own
    assert other.id != first.id and other.idempotency_key not in (None, f"k-{user_id}")
    assert len(inbox(herald, user_id)) == 2


def test_a_minted_token_opens_the_inbox_until_it_expires(herald: HeraldServer, producer: Herald, user_id: str) -> None:
    token = producer.mint_token(user_id, ttl_seconds=120)
    assert 100 < token.expires_at.timestamp() - time.time() <= 121
    answer = httpx.get(herald.url + "/api/notifications", headers={"Authorization": f"Bearer {token.token}"})
    assert answer.status_code == 200


def test_a_429_is_retried_after_retry_after_and_delivers_once(private_herald: HeraldServer, user_id: str,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    private_herald.env.update(HERALD_PUBLISH_RATE_PER_SECOND="1", HERALD_PUBLISH_BURST="1")
    private_herald.start()
    with Herald(private_herald.url, private_herald.api_key, retries=0) as impatient:
        impatient.publish(Target.users(user_id), type="t", title="first")
        with pytest.raises(RateLimited) as refused:
            impatient.publish(Target.users(user_id), type="t", title="refused")
    assert refused.value.status == 429 and refused.value.retry_after is not None and refused.value.retry_after >= 1
    with Herald(private_herald.url, private_herald.api_key, retries=3) as patient, caplog.at_level(logging.INFO):
        started = time.monotonic()
        patient.publish(Target.users(user_id), type="t", title="second")
        waited = time.monotonic() - started
    assert any("rate_limited; retry 1 of 3" in record.getMessage() for record in caplog.records)
    assert waited >= 0.9  # it waited for the bucket (Retry-After: 1), not hammered it
    assert [i["title"] for i in inbox(private_herald, user_id)] == ["second", "first"]


async def test_replace_retract_and_expiry_from_the_client(herald: HeraldServer, user_id: str) -> None:
    from herald_client import NotFound, Retracted

    async with AsyncHerald(herald.url, herald.api_key) as async_producer:
        token = (await async_producer.mint_token(user_id)).token
        async with Subscriber(herald.url, token=token) as sub:
            events = sub.events()
            assert type(await anext(events)).__name__ == "Ready"
            first = await async_producer.publish(Target.users(user_id), type="order", title="confirmed",
                                                 replace_key="order:1")
            item = await asyncio.wait_for(anext(events), 10)
            await async_producer.publish(Target.users(user_id), type="order", title="shipped", replace_key="order:1",
                                         silent=True)
            update = await asyncio.wait_for(anext(events), 10)
            assert (item.id, update.id, update.title, update.silent, update.replace_key) == (
                first.id, first.id, "shipped", True, "order:1")
            assert await async_producer.retract_key("order:1", Target.users(user_id)) == 1
            gone = await asyncio.wait_for(anext(events), 10)
            assert gone == Retracted([first.id], "retracted", 0)
            brief = await async_producer.publish(Target.users(user_id), type="t", title="brief", ttl_seconds=1)
            assert (await asyncio.wait_for(anext(events), 10)).id == brief.id
            expired = await asyncio.wait_for(anext(events), 10)
            assert expired == Retracted([brief.id], "expired", 0)
            assert await async_producer.retract(brief.id) == 0, "expired: known, but nothing is left to take back"
            with pytest.raises(NotFound):
                await async_producer.retract(brief.id)  # retracted now
    kept = Herald(herald.url, herald.api_key)
    try:
        sent = kept.publish(Target.users(user_id), type="t", title="oops")
        assert kept.retract(sent.id) == 1 and inbox(herald, user_id) == []
    finally:
        kept.close()


def test_a_scheduled_publish_waits_for_its_time_and_cancels_by_id_or_by_key(
        herald: HeraldServer, producer: Herald, user_id: str) -> None:
    from datetime import datetime, timedelta, timezone

    from herald_client import NotFound

    later = datetime.now(timezone.utc) + timedelta(hours=1)
    first = producer.publish(Target.users(user_id), type="t", title="in an hour", send_at=later)
    assert first.recipients is None and first.send_at is not None
    assert abs((first.send_at - later).total_seconds()) < 0.001  # echoed to the millisecond, in UTC
    keyed = producer.publish(Target.users(user_id), type="t", title="keyed", send_at=later,
                             replace_key=f"cart:{user_id}")
    assert inbox(herald, user_id) == []  # nothing is sent before its time
    producer.cancel_scheduled(first.id)
    with pytest.raises(NotFound):
        producer.cancel_scheduled(first.id)  # cancelled already
    assert producer.cancel_scheduled_key(f"cart:{user_id}", Target.users(user_id)) == [keyed.id]
    with pytest.raises(NotFound):
        producer.cancel_scheduled_key(f"cart:{user_id}")
    with pytest.raises(ValueError, match="offset"):
        producer.publish(Target.users(user_id), type="t", title="naive", send_at=datetime.now() + timedelta(hours=1))

    soon = producer.publish(Target.users(user_id), type="t", title="soon",
                            send_at=datetime.now(timezone.utc) + timedelta(seconds=0.5))
    deadline = time.monotonic() + 10
    while not (items := inbox(herald, user_id)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [(i["id"], i["title"]) for i in items] == [(soon.id, "soon")]  # the cancelled two never went out


async def test_a_broadcast_and_its_retraction_reach_a_subscriber(herald: HeraldServer, user_id: str) -> None:
    """Live, a broadcast has no cursor and its retraction no count (broadcasts.py): the subscriber takes both."""
    from herald_client import Retracted

    async with AsyncHerald(herald.url, herald.api_key) as async_producer:
        await async_producer.publish(Target.users(user_id), type="welcome", title="hello")  # Herald knows them now
        await asyncio.sleep(0.01)
        token = (await async_producer.mint_token(user_id)).token
        async with Subscriber(herald.url, token=token) as sub:
            events = sub.events()
            ready = await anext(events)
            assert ready.unread_count == 1
            sent = await async_producer.publish(Target.all(), type="news", title="for all")
            item = await asyncio.wait_for(anext(events), 10)
            assert (item.id, sub.cursor) == (sent.id, ready.cursor)  # the cursor did not move
            assert await async_producer.retract(sent.id) == 0  # no inbox had copied it yet
            gone = await asyncio.wait_for(anext(events), 10)
            assert gone == Retracted([sent.id], "retracted", 1)
