"""APNs end to end: a real Herald, a local APNs over HTTP/2 and TLS that verifies the ES256 provider token."""
from __future__ import annotations

import json
import secrets
import time

from tests.fake_apns import BUNDLE_ID, FakeApple
from tests.herald_server import HeraldServer
from tests.integration.push.support import devices_of, eventually, registered


def test_offline_user_gets_one_apns_push_with_the_right_headers(native: HeraldServer, apple: FakeApple,
                                                                user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    before = time.time()
    sent = native.publish(to={"users": [user_id]}, type="security.alert", title="New sign-in", body="From Oslo",
                          priority="urgent", groupKey="security", url="/security", data={"ip": "192.0.2.1"})
    (push,) = apple.wait(token, 1)
    time.sleep(0.5)
    assert len(apple.of(token)) == 1 and not apple.errors
    assert push.status == 200
    headers = push.headers
    assert headers["apns-topic"] == BUNDLE_ID and headers["apns-push-type"] == "alert"
    assert headers["apns-priority"] == "10"
    assert before + 23 * 3600 < int(headers["apns-expiration"]) <= time.time() + 24 * 3600
    assert len(headers["apns-collapse-id"]) == 32
    aps = push.payload["aps"]
    assert aps["alert"] == {"title": "New sign-in", "body": "From Oslo"}
    assert aps["interruption-level"] == "time-sensitive" and aps["thread-id"] == "security"
    item = push.payload["herald"]["notification"]
    assert (item["id"], item["url"], item["data"]) == (sent["id"], "/security", {"ip": "192.0.2.1"})
    assert eventually(lambda: devices_of(native, user_id)[0]["lastSuccessAt"])


def test_medium_is_priority_5_without_interruption_level(native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    native.publish(to={"users": [user_id]}, type="comment", title="New comment")
    (push,) = apple.wait(token, 1)
    assert push.headers["apns-priority"] == "5" and "apns-collapse-id" not in push.headers
    assert "interruption-level" not in push.payload["aps"]


def test_pushes_share_one_http2_connection(native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    tokens = [apple.device() for _ in range(3)]
    for token in tokens:
        registered(native, user_id, "apns", token)
    native.publish(to={"users": [user_id]}, type="t", title="first")
    for token in tokens:
        apple.wait(token, 1)
    for n in range(3):
        native.publish(to={"users": [user_id]}, type="t", title=f"then {n}")
    pushes = [push for token in tokens for push in apple.wait(token, 4)]
    assert len({push.connection for push in pushes}) == 1  # kept open and multiplexed, not one per push
    assert apple.refused_connections == 0  # and it never tried anything but h2


def test_unregistered_token_is_removed(native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    apple.answer(token, (410, "Unregistered"))
    native.publish(to={"users": [user_id]}, type="t", title="to a deleted app")
    apple.wait(token, 1)
    assert eventually(lambda: devices_of(native, user_id) == [])
    native.publish(to={"users": [user_id]}, type="t", title="after removal")
    time.sleep(0.7)
    assert len(apple.of(token)) == 1


def test_429_and_503_are_retried_and_delivered_once(native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    apple.answer(token, (429, "TooManyRequests"), (503, "ServiceUnavailable"))
    native.publish(to={"users": [user_id]}, type="t", title="busy Apple")
    apple.wait(token, 3)
    time.sleep(1.5)  # past the next backoff: a fourth attempt would show up
    assert [p.status for p in apple.of(token)] == [429, 503, 200]


def test_an_expired_provider_token_is_renewed_once_and_the_push_delivered(native: HeraldServer, apple: FakeApple,
                                                                         user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    native.publish(to={"users": [user_id]}, type="t", title="first")
    (first,) = apple.wait(token, 1)
    time.sleep(1.1)
    apple.expire_tokens_issued_before = int(time.time())  # as Apple does after an hour (iat is in seconds)
    native.publish(to={"users": [user_id]}, type="t", title="after expiry")
    refused, delivered = apple.wait(token, 3)[1:]
    assert (refused.status, refused.reason, delivered.status) == (403, "ExpiredProviderToken", 200)
    assert refused.headers["authorization"] == first.headers["authorization"]
    assert delivered.headers["authorization"] != first.headers["authorization"]
    assert delivered.at - refused.at < 0.5  # tried again at once, not after a backoff


def test_a_payload_over_4_kb_has_its_body_cut_not_its_json(native: HeraldServer, apple: FakeApple,
                                                          user_id: str) -> None:
    token = apple.device()
    registered(native, user_id, "apns", token)
    native.publish(to={"users": [user_id]}, type="t", title="long", body="ü" * 4000, data={"blob": "y" * 6000})
    (push,) = apple.wait(token, 1)
    assert push.status == 200 and push.size <= 4096 and not apple.errors
    body = push.payload["aps"]["alert"]["body"]
    assert body.startswith("üü") and body.endswith("\u2026")
    assert push.payload["herald"]["notification"]["data"] is None
    assert len(json.dumps(push.payload, ensure_ascii=False, separators=(",", ":")).encode()) > 3500  # cut, not emptied


def test_a_bad_device_token_is_a_failure_with_apples_reason(native: HeraldServer, apple: FakeApple,
                                                            user_id: str) -> None:
    token = secrets.token_hex(32)  # well formed, but APNs knows no such device
    registered(native, user_id, "apns", token)
    native.publish(to={"users": [user_id]}, type="t", title="nowhere")
    apple.wait(token, 1)
    assert eventually(lambda: devices_of(native, user_id)[0]["lastError"]) == "rejected: 400 BadDeviceToken"
    time.sleep(1.0)
    assert len(apple.of(token)) == 1
