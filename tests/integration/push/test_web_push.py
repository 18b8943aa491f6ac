"""Web Push delivery, end to end: a real Herald, a real push service that verifies and decrypts.

Each test subscribes a fresh key pair (as a browser would) and watches what
reaches the local push service in ``tests/fake_push_service.py``.
"""
from __future__ import annotations

import base64
import hashlib
import time
from typing import Iterator

import httpx
import pytest

from tests.fake_push_service import FakePushService, subscribe
from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.scrape import metric, wait_metric
from tests.sse_client import open_stream

FAST_RETRIES = {"HERALD_PUSH_RETRY_BASE_SECONDS": "0.3", "HERALD_PUSH_RETRY_MAX_SECONDS": "1",
                "HERALD_PUSH_MAX_ATTEMPTS": "4"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def push_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                push_service: FakePushService) -> Iterator[HeraldServer]:
    """A development server with fast retries, on each database."""
    database_url = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path_factory.mktemp(f"push-{request.param}"), database_url, **FAST_RETRIES).start()
    push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)


def expected_topic(group_key: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(group_key.encode()).digest()).decode()[:32]


def test_offline_user_gets_one_push_per_notification_with_headers(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    first = push_server.publish(to={"users": [user_id]}, type="order.shipped", title="Your order shipped",
                                body="Order #1042", priority="high", groupKey="order:1042", url="/orders/1042",
                                data={"orderId": 1042})
    second = push_server.publish(to={"users": [user_id]}, type="security.alert", title="New sign-in",
                                 priority="urgent")
    pushes = push_service.wait(sub, 2)
    time.sleep(0.5)  # room for a duplicate to show up
    assert len(push_service.of(sub)) == 2 and not push_service.errors
    by_id = {p.message["notification"]["id"]: p for p in pushes}
    assert set(by_id) == {first["id"], second["id"]}

    shipped = by_id[first["id"]]
    item = shipped.message["notification"]
    assert shipped.message["kind"] == "notification"
    assert {k: item[k] for k in ("type", "title", "body", "priority", "groupKey", "url", "data", "read")} == {
        "type": "order.shipped", "title": "Your order shipped", "body": "Order #1042", "priority": "high",
        "groupKey": "order:1042", "url": "/orders/1042", "data": {"orderId": 1042}, "read": False}
    assert shipped.headers["urgency"] == "high"
    assert shipped.headers["topic"] == expected_topic("order:1042")
    assert 0 < int(shipped.headers["ttl"]) <= 24 * 3600

    alert = by_id[second["id"]]
    assert alert.headers["urgency"] == "high"
    assert "topic" not in alert.headers
    assert metric(push_server, 'herald_push_sent_total{outcome="delivered"}') >= 2


def test_medium_maps_to_normal_urgency_and_low_is_not_pushed(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    push_server.publish(to={"users": [user_id]}, type="digest", title="Weekly digest", priority="low")
    medium = push_server.publish(to={"users": [user_id]}, type="comment", title="New comment")
    (push,) = push_service.wait(sub, 1)
    time.sleep(0.5)
    assert [p.message["notification"]["id"] for p in push_service.of(sub)] == [medium["id"]]
    assert push.headers["urgency"] == "normal"


async def test_online_user_gets_no_push(push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    async with open_stream(push_server.url, push_server.token(user_id)) as stream:
        await stream.until("ready")
        live = push_server.publish(to={"users": [user_id]}, type="t", title="while online", priority="urgent")
        assert (await stream.until("notification")).json()["id"] == live["id"]
        time.sleep(1.0)
        assert push_service.of(sub) == []
    # The same subscription does get pushes once the user is gone: the silence above was the policy.
    offline = push_server.publish(to={"users": [user_id]}, type="t", title="after leaving", priority="urgent")
    (push,) = push_service.wait(sub, 1)
    assert push.message["notification"]["id"] == offline["id"]


def test_gone_subscription_is_deleted(push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    gone = metric(push_server, 'herald_push_sent_total{outcome="gone"}')
    push_service.answer(sub, 410)
    push_server.publish(to={"users": [user_id]}, type="t", title="to a dead browser")
    push_service.wait(sub, 1)
    wait_metric(push_server, 'herald_push_sent_total{outcome="gone"}', gone)  # counted after the delete commits
    response = httpx.request("DELETE", push_server.url + "/api/push/subscriptions", json={"endpoint": sub.endpoint},
                             headers={"Authorization": f"Bearer {push_server.token(user_id)}"})
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "No such push subscription for this user."}
    push_server.publish(to={"users": [user_id]}, type="t", title="after deletion")
    time.sleep(0.7)
    assert len(push_service.of(sub)) == 1


def test_503_then_201_is_retried_and_delivered_once(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    push_service.answer(sub, 503, 201)
    sent = push_server.publish(to={"users": [user_id]}, type="t", title="flaky service")
    attempts = push_service.wait(sub, 2)
    time.sleep(1.5)  # longer than the next backoff: a third attempt would show up
    assert [p.status for p in push_service.of(sub)] == [503, 201]
    assert [p.message["notification"]["id"] for p in attempts] == [sent["id"], sent["id"]]
    assert attempts[1].at - attempts[0].at >= 0.15  # half the 0.3 s base at least: it backed off


def test_retry_after_is_respected(push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    push_service.answer(sub, (429, {"Retry-After": "1"}), 201)
    push_server.publish(to={"users": [user_id]}, type="t", title="rate limited")
    first, second = push_service.wait(sub, 2)
    assert second.at - first.at >= 0.95


def test_attempts_are_bounded(push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    gave_up = metric(push_server, 'herald_push_sent_total{outcome="gave_up"}')
    push_service.answer(sub, *[500] * 20)
    push_server.publish(to={"users": [user_id]}, type="t", title="never accepted")
    push_service.wait(sub, 4)
    wait_metric(push_server, 'herald_push_sent_total{outcome="gave_up"}', gave_up)
    time.sleep(1.5)  # past the 1 s ceiling: no fifth attempt
    assert len(push_service.of(sub)) == 4  # HERALD_PUSH_MAX_ATTEMPTS=4


def test_item_read_before_a_retry_is_not_pushed_again(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    push_service.answer(sub, (503, {"Retry-After": "1"}))
    sent = push_server.publish(to={"users": [user_id]}, type="t", title="read elsewhere")
    push_service.wait(sub, 1)
    read = httpx.post(f"{push_server.url}/api/notifications/{sent['id']}/read",
                      headers={"Authorization": f"Bearer {push_server.token(user_id)}"})
    assert read.status_code == 200
    skipped = metric(push_server, 'herald_push_sent_total{outcome="read"}')
    wait_metric(push_server, 'herald_push_sent_total{outcome="read"}', skipped, timeout=4)
    assert [p.status for p in push_service.of(sub)] == [503]


def test_redirects_are_not_followed(push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    elsewhere = push_service.subscription()
    push_service.answer(sub, (307, {"Location": elsewhere.endpoint}))
    push_server.publish(to={"users": [user_id]}, type="t", title="redirected")
    push_service.wait(sub, 1)
    time.sleep(1.0)
    assert push_service.of(elsewhere) == [] and len(push_service.of(sub)) == 1


def test_restart_between_attempts_still_delivers(tmp_path, push_service: FakePushService, user_id: str) -> None:
    # Retries slow enough that the server is down when the next one falls due.
    herald = HeraldServer(tmp_path / "herald", HERALD_PUSH_RETRY_BASE_SECONDS="4").start()
    try:
        push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
        sub = subscribe(herald, push_service, user_id)
        push_service.answer(sub, 503)
        sent = herald.publish(to={"users": [user_id]}, type="t", title="survives a restart")
        push_service.wait(sub, 1)
        deadline = time.monotonic() + 5
        while metric(herald, 'herald_push_sent_total{outcome="retry"}') < 1 and time.monotonic() < deadline:
            time.sleep(0.05)  # the retry is written down before the process goes away
        herald.stop()
        assert [p.status for p in push_service.of(sub)] == [503]
        herald.start()
        (delivered,) = push_service.wait(sub, 1, timeout=15, delivered=True)
        time.sleep(1.0)
        assert [p.status for p in push_service.of(sub)] == [503, 201]
        assert delivered.message["notification"]["id"] == sent["id"]
        assert metric(herald, 'herald_push_sent_total{outcome="delivered"}') == 1
    finally:
        herald.stop()


def test_past_the_recipient_limit_an_offline_user_gets_one_digest_push(
        tmp_path, push_service: FakePushService, user_id: str) -> None:
    herald = HeraldServer(tmp_path / "herald", HERALD_RECIPIENT_LIVE_PER_MINUTE="2", **FAST_RETRIES).start()
    key_before = push_service.vapid_public_key
    push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
    try:
        sub = subscribe(herald, push_service, user_id)
        ids = [herald.publish(to={"users": [user_id]}, type="t", title=f"n{i}")["id"] for i in range(5)]
        pushes = push_service.wait(sub, 3)
        time.sleep(1.0)  # room for a push per item, or a second digest, to show up
        assert len(push_service.of(sub)) == 3 and not push_service.errors
        (digest,) = [p for p in pushes if p.message["notification"]["id"] == ""]
        assert sorted(p.message["notification"]["id"] for p in pushes if p is not digest) == sorted(ids[:2])
        # Sent with the third item, the first over the limit: three unread by then. The two after it
        # are covered by this digest (one per user per minute).
        assert digest.message["kind"] == "notification"
        assert {k: digest.message["notification"][k] for k in ("id", "title", "groupKey", "url")} == {
            "id": "", "title": "3 new notifications", "groupKey": "herald:digest", "url": None}
        assert digest.headers["topic"] == expected_topic("herald:digest")
        assert digest.headers["urgency"] == "normal"
        assert metric(herald, "herald_push_digests_total") == 1
        assert metric(herald, 'herald_push_sent_total{outcome="delivered"}') == 3
    finally:
        push_service.vapid_public_key = key_before
        herald.stop()
