"""The acknowledgement timeout: a connection that never confirms a delivery counts as absent for Web Push.

A user online at publish gets no push if a client acknowledges the item
within ``HERALD_PUSH_ACK_TIMEOUT_SECONDS``, and the push otherwise; the held
push is a row in the queue, so a restart does not lose it.
"""
from __future__ import annotations

import asyncio
import time
from typing import Iterator

import httpx
import pytest

from tests.fake_push_service import FakePushService, subscribe
from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.scrape import metric, wait_metric
from tests.transports import subscribe as listen

HOLD_SECONDS = 1.5


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def ack_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
               push_service: FakePushService) -> Iterator[HeraldServer]:
    database_url = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path_factory.mktemp(f"push-ack-{request.param}"), database_url,
                          HERALD_PUSH_ACK_TIMEOUT_SECONDS=str(HOLD_SECONDS)).start()
    push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)


async def test_a_stream_that_never_acknowledges_gets_the_push_after_the_timeout(
        ack_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    browser = subscribe(ack_server, push_service, user_id)
    held = metric(ack_server, "herald_push_held_total")
    async with listen("sse", ack_server.url, ack_server.token(user_id)) as stream:
        await stream.until("ready")
        published = time.monotonic()
        item = ack_server.publish(to={"users": [user_id]}, type="t", title="seen by nobody", priority="high")["id"]
        assert (await stream.until("notification")).data["id"] == item  # written, never acknowledged
        assert metric(ack_server, "herald_push_held_total") == held + 1
        await asyncio.sleep(HOLD_SECONDS / 2)
        assert push_service.of(browser) == []  # held, not sent at once
        (push,) = await asyncio.to_thread(push_service.wait, browser, 1)
    assert push.message["notification"]["id"] == item
    assert push.at - published >= HOLD_SECONDS - 0.1


@pytest.mark.parametrize("transport", ["sse", "websocket"])
async def test_a_client_that_acknowledges_gets_no_push(ack_server: HeraldServer, push_service: FakePushService,
                                                       user_id: str, transport: str) -> None:
    browser = subscribe(ack_server, push_service, user_id)
    acked = metric(ack_server, 'herald_push_sent_total{outcome="acked"}')
    async with listen(transport, ack_server.url, ack_server.token(user_id)) as stream:
        await stream.until("ready")
        item = ack_server.publish(to={"users": [user_id]}, type="t", title="seen live", priority="urgent")["id"]
        assert (await stream.until("notification")).data["id"] == item
        await stream.ack([item])
        # The held push came due and was dropped for its receipt (not merely not sent yet).
        await asyncio.to_thread(wait_metric, ack_server, 'herald_push_sent_total{outcome="acked"}', acked,
                                HOLD_SECONDS + 5)
    await asyncio.sleep(0.5)
    assert push_service.of(browser) == []


async def test_the_held_push_survives_a_restart(tmp_path, push_service: FakePushService, user_id: str) -> None:
    herald = HeraldServer(tmp_path / "herald", HERALD_PUSH_ACK_TIMEOUT_SECONDS="3").start()
    try:
        push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
        browser = subscribe(herald, push_service, user_id)
        async with listen("sse", herald.url, herald.token(user_id)) as stream:
            await stream.until("ready")
            item = herald.publish(to={"users": [user_id]}, type="t", title="across a restart", priority="high")["id"]
            await stream.until("notification")
            herald.stop()  # before the push came due; the stream goes with the server
        assert push_service.of(browser) == []
        herald.start()
        (push,) = await asyncio.to_thread(push_service.wait, browser, 1, 15)
        assert push.message["notification"]["id"] == item
    finally:
        herald.stop()


async def test_with_the_timeout_off_an_online_user_gets_no_push(tmp_path, push_service: FakePushService,
                                                                 user_id: str) -> None:
    herald = HeraldServer(tmp_path / "herald", HERALD_PUSH_ACK_TIMEOUT_SECONDS="0").start()
    try:
        push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
        browser = subscribe(herald, push_service, user_id)
        async with listen("sse", herald.url, herald.token(user_id)) as stream:
            await stream.until("ready")
            herald.publish(to={"users": [user_id]}, type="t", title="never acknowledged", priority="urgent")
            await stream.until("notification")
            await asyncio.sleep(2)
        assert push_service.of(browser) == []
        assert metric(herald, "herald_push_held_total") == 0
    finally:
        herald.stop()
