"""Pushes across a notification's life: the replace key collapses them, a retract closes them, expiry stops them."""
from __future__ import annotations

import base64
import hashlib
import time
from typing import Iterator

import httpx
import pytest

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.fake_push_service import FakePushService, subscribe
from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.integration.push.support import FAST_RETRIES, eventually, registered


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def push_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                push_service: FakePushService) -> Iterator[HeraldServer]:
    database_url = create_postgres_database() if request.param == "postgres" else ""
    herald = HeraldServer(tmp_path_factory.mktemp(f"lifecycle-{request.param}"), database_url, **FAST_RETRIES).start()
    push_service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)


def topic(key: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest()).decode()[:32]


def test_updates_of_one_key_share_the_item_id_and_the_topic(push_server: HeraldServer, push_service: FakePushService,
                                                            user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    first = push_server.publish(to={"users": [user_id]}, type="order", title="confirmed", replaceKey="order:1042")
    push_server.publish(to={"users": [user_id]}, type="order", title="shipped", replaceKey="order:1042")
    pushes = push_service.wait(sub, 2)
    assert [p.message["notification"]["title"] for p in pushes] == ["confirmed", "shipped"]
    assert {p.message["notification"]["id"] for p in pushes} == {first["id"]}
    assert {p.message["notification"]["replaceKey"] for p in pushes} == {"order:1042"}
    assert {p.headers.get("topic") for p in pushes} == {topic("order:1042")}


def test_a_retract_closes_the_notification_in_a_browser_with_no_open_tab(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    sent = push_server.publish(to={"users": [user_id]}, type="t", title="oops")["id"]
    push_service.wait(sub, 1)
    assert httpx.delete(f"{push_server.url}/api/notifications/{sent}", headers=push_server.headers()).status_code == 200
    pushes = push_service.wait(sub, 2)
    assert pushes[1].message == {"kind": "retract", "ids": [sent]}


def test_a_push_still_queued_for_a_retracted_item_is_not_sent(push_server: HeraldServer,
                                                              push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    push_service.answer(sub, 503)  # the first attempt fails: the push waits in the queue for its retry
    sent = push_server.publish(to={"users": [user_id]}, type="t", title="oops")["id"]
    push_service.wait(sub, 1)
    httpx.delete(f"{push_server.url}/api/notifications/{sent}", headers=push_server.headers())
    eventually(lambda: not push_server.sql("SELECT 1 FROM push_jobs WHERE user_id = :u", u=user_id))
    time.sleep(0.5)
    messages = [p.message for p in push_service.of(sub)]
    # The retry never went out; nor a retract push, as this browser was never shown the item.
    assert [m["notification"]["id"] for m in messages] == [sent]


def test_an_expired_item_is_never_pushed_and_its_ttl_is_capped(push_server: HeraldServer,
                                                               push_service: FakePushService, user_id: str) -> None:
    sub = subscribe(push_server, push_service, user_id)
    # The retry would be due after the item expired: without the item's expiry as the push's, it would go out.
    push_service.answer(sub, (503, {"Retry-After": "2"}))
    push_server.publish(to={"users": [user_id]}, type="t", title="flash sale", ttlSeconds=1)
    first = push_service.wait(sub, 1)[0]
    assert int(first.headers["ttl"]) <= 1, "the push service keeps it no longer than the item lives"
    eventually(lambda: not push_server.sql("SELECT 1 FROM push_jobs WHERE user_id = :u AND item_id NOT LIKE 'herald:%'",
                                           u=user_id))
    time.sleep(0.5)
    notifications = [p for p in push_service.of(sub) if p.message.get("kind") == "notification"]
    assert len(notifications) == 1, "the retry after expiry was not sent"


def test_phones_that_were_pushed_a_retracted_item_get_a_silent_update(
        native: HeraldServer, google: FakeGoogle, apple: FakeApple, user_id: str) -> None:
    android, iphone = google.device(), apple.device()
    registered(native, user_id, "fcm", android)
    registered(native, user_id, "apns", iphone)
    sent = native.publish(to={"users": [user_id]}, type="t", title="oops", replaceKey="k")["id"]
    eventually(lambda: native.sql("SELECT count(*) FROM device_pushes WHERE user_id = :u", u=user_id) == [(2,)])
    answer = httpx.post(f"{native.url}/api/retract", json={"replaceKey": "k", "to": {"users": [user_id]}},
                        headers=native.headers())
    assert answer.json() == {"removed": 1}
    fcm = google.wait(android, 2)[1].message
    assert fcm["data"] == {"kind": "retract", "ids": f'["{sent}"]'} and "notification" not in fcm
    apns = apple.wait(iphone, 2)[1].payload
    assert apns == {"aps": {"content-available": 1}, "herald": {"kind": "retract", "ids": [sent]}}


def test_a_retract_push_goes_only_to_browsers_that_were_pushed_the_item(
        push_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    shown = subscribe(push_server, push_service, user_id)
    sent = push_server.publish(to={"users": [user_id]}, type="t", title="oops")["id"]
    push_service.wait(shown, 1, delivered=True)
    eventually(lambda: push_server.sql("SELECT 1 FROM subscription_pushes WHERE item_id = :i", i=sent))
    later = subscribe(push_server, push_service, user_id)  # this browser never had it on screen
    httpx.delete(f"{push_server.url}/api/notifications/{sent}", headers=push_server.headers())
    assert push_service.wait(shown, 2)[1].message == {"kind": "retract", "ids": [sent]}
    time.sleep(0.5)
    assert push_service.of(later) == [], "a push that closes nothing would only spend the silent-push budget"
    assert push_server.sql("SELECT count(*) FROM subscription_pushes WHERE item_id = :i", i=sent) == [(0,)]
