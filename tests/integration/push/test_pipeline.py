"""One push pipeline for every channel: Web Push, FCM and APNs share the queue, the holds, retries and read sync."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.fake_push_service import FakePushService
from tests.herald_server import HeraldServer
from tests.integration.push.support import (
    FAST_RETRIES, auth, eventually, metric, native_env, registered, subscribe_browser,
)
from tests.transports import subscribe as listen


def test_one_publish_pushes_once_to_each_device_on_every_channel(
        native: HeraldServer, google: FakeGoogle, apple: FakeApple, push_service: FakePushService,
        user_id: str) -> None:
    browser = subscribe_browser(native, push_service, user_id)
    android, iphone, ipad = google.device(), apple.device(), apple.device()
    registered(native, user_id, "fcm", android)
    registered(native, user_id, "apns", iphone)
    registered(native, user_id, "apns", ipad)
    sent = native.publish(to={"users": [user_id]}, type="t", title="everywhere", priority="high")
    (web,) = push_service.wait(browser, 1)
    (fcm,) = google.wait(android, 1)
    phones = [apple.wait(iphone, 1)[0], apple.wait(ipad, 1)[0]]
    time.sleep(0.5)
    assert (len(push_service.of(browser)), len(google.of(android)), len(apple.of(iphone)), len(apple.of(ipad))) == (
        1, 1, 1, 1)
    assert web.message["notification"]["id"] == fcm.message["data"]["id"] == sent["id"]
    assert all(p.payload["herald"]["notification"]["id"] == sent["id"] for p in phones)


def test_a_restart_between_attempts_still_delivers_once(tmp_path: Path, google: FakeGoogle, apple: FakeApple,
                                                        user_id: str) -> None:
    herald = HeraldServer(tmp_path / "herald", HERALD_PUSH_RETRY_BASE_SECONDS="4",
                          **native_env(google, apple, tmp_path / "keys")).start()
    try:
        iphone, android = apple.device(), google.device()
        registered(herald, user_id, "apns", iphone)
        registered(herald, user_id, "fcm", android)
        apple.answer(iphone, (503, "ServiceUnavailable"))
        google.answer(android, (503, "UNAVAILABLE"))
        sent = herald.publish(to={"users": [user_id]}, type="t", title="survives a restart")
        apple.wait(iphone, 1)
        google.wait(android, 1)
        eventually(lambda: metric(herald, 'herald_push_sent_total{outcome="retry"}') >= 2)  # written down
        herald.stop()
        herald.start()
        (delivered,) = apple.wait(iphone, 1, timeout=15, delivered=True)
        google.wait(android, 1, timeout=15, delivered=True)
        time.sleep(1.0)
        assert [p.status for p in apple.of(iphone)] == [503, 200]
        assert [r.status for r in google.of(android)] == [503, 200]
        assert delivered.payload["herald"]["notification"]["id"] == sent["id"]
    finally:
        herald.stop()


async def test_a_live_user_who_acknowledged_gets_no_native_push(tmp_path: Path, google: FakeGoogle,
                                                               apple: FakeApple, user_id: str) -> None:
    herald = HeraldServer(tmp_path / "herald", HERALD_PUSH_ACK_TIMEOUT_SECONDS="1.5",
                          **native_env(google, apple, tmp_path / "keys")).start()
    try:
        iphone, android = apple.device(), google.device()
        registered(herald, user_id, "apns", iphone)
        registered(herald, user_id, "fcm", android)
        async with listen("websocket", herald.url, herald.token(user_id)) as stream:
            await stream.until("ready")
            acked = herald.publish(to={"users": [user_id]}, type="t", title="seen live", priority="urgent")["id"]
            assert (await stream.until("notification")).data["id"] == acked
            await stream.ack([acked])
            unacked = herald.publish(to={"users": [user_id]}, type="t", title="never confirmed", priority="urgent")
            await stream.until("notification")
            # The acknowledged item's held pushes come due and are dropped for the receipt; the other goes out.
            await asyncio.to_thread(apple.wait, iphone, 1)
            await asyncio.to_thread(google.wait, android, 1)
        await asyncio.sleep(1.0)
        assert [p.payload["herald"]["notification"]["id"] for p in apple.of(iphone)] == [unacked["id"]]
        assert [json.loads(r.message["data"]["notification"])["id"] for r in google.of(android)] == [unacked["id"]]
        assert metric(herald, 'herald_push_results_total{outcome="acked",provider="apns"}') == 1
        assert metric(herald, 'herald_push_results_total{outcome="acked",provider="fcm"}') == 1
    finally:
        herald.stop()


def test_reading_elsewhere_sends_a_silent_update_to_the_devices_that_were_pushed(
        native: HeraldServer, google: FakeGoogle, apple: FakeApple, user_id: str) -> None:
    iphone, android = apple.device(), google.device()
    registered(native, user_id, "apns", iphone)
    registered(native, user_id, "fcm", android)
    first = native.publish(to={"users": [user_id]}, type="t", title="one")["id"]
    second = native.publish(to={"users": [user_id]}, type="t", title="two")["id"]
    apple.wait(iphone, 2)
    google.wait(android, 2)
    eventually(lambda: native.sql("SELECT count(*) FROM device_pushes WHERE user_id = :u", u=user_id)[0][0] == 4)
    read = httpx.post(f"{native.url}/api/notifications/{first}/read", headers=auth(native, user_id))
    assert read.status_code == 200
    background = apple.wait(iphone, 3)[2]
    data = google.wait(android, 3)[2]
    assert background.headers["apns-push-type"] == "background" and background.headers["apns-priority"] == "5"
    assert background.payload == {"aps": {"content-available": 1}, "herald": {"kind": "read", "ids": [first],
                                                                             "all": False}}
    assert "notification" not in data.message
    assert data.message["data"] == {"kind": "read", "ids": json.dumps([first]), "all": "false"}
    # Reading it again changes nothing and sends nothing; reading all covers what is left.
    assert httpx.post(f"{native.url}/api/notifications/{first}/read", headers=auth(native, user_id)).status_code == 200
    assert httpx.post(f"{native.url}/api/notifications/read-all", headers=auth(native, user_id)).status_code == 200
    rest = apple.wait(iphone, 4)[3]
    assert rest.payload["herald"] == {"kind": "read", "ids": [second], "all": True}
    time.sleep(0.7)
    assert len(apple.of(iphone)) == 4 and len(google.of(android)) == 4 and not apple.errors and not google.errors


def test_apns_down_delays_its_pushes_and_blocks_nothing_else(tmp_path: Path, google: FakeGoogle,
                                                             user_id: str) -> None:
    (tmp_path / "apple").mkdir()
    apple = FakeApple(tmp_path / "apple").start()
    herald = HeraldServer(tmp_path / "herald", **{**FAST_RETRIES, "HERALD_PUSH_MAX_ATTEMPTS": "20"},
                          **native_env(google, apple, tmp_path / "keys")).start()
    try:
        iphone, android = apple.device(), google.device()
        registered(herald, user_id, "apns", iphone)
        registered(herald, user_id, "fcm", android)
        apple.stop()  # connections refused from now on
        started = time.monotonic()
        sent = herald.publish(to={"users": [user_id]}, type="t", title="while Apple is away")
        assert time.monotonic() - started < 2  # the 202 did not wait for any push service
        google.wait(android, 1, delivered=True)  # FCM is not held up behind APNs
        eventually(lambda: metric(herald, 'herald_push_results_total{outcome="retry",provider="apns"}') >= 2)
        apple.restart()
        (push,) = apple.wait(iphone, 1, timeout=15)
        assert push.status == 200 and push.payload["herald"]["notification"]["id"] == sent["id"]
    finally:
        herald.stop()
        apple.stop()


def test_archiving_or_an_action_elsewhere_closes_the_item_on_the_devices_that_were_pushed(
        native: HeraldServer, google: FakeGoogle, apple: FakeApple, user_id: str) -> None:
    iphone = apple.device()
    registered(native, user_id, "apns", iphone)
    first = native.publish(to={"users": [user_id]}, type="t", title="one")["id"]
    second = native.publish(to={"users": [user_id]}, type="t", title="two", actions=[{"id": "ok", "label": "OK"}])["id"]
    apple.wait(iphone, 2)
    eventually(lambda: native.sql("SELECT count(*) FROM device_pushes WHERE user_id = :u", u=user_id)[0][0] == 2)
    assert httpx.post(f"{native.url}/api/notifications/{first}/archive", headers=auth(native, user_id)).status_code == 200
    assert apple.wait(iphone, 3)[2].payload["herald"] == {"kind": "read", "ids": [first], "all": False}
    assert httpx.post(f"{native.url}/api/notifications/{second}/actions/ok",
                      headers=auth(native, user_id)).status_code == 200
    assert apple.wait(iphone, 4)[3].payload["herald"] == {"kind": "read", "ids": [second], "all": False}
