"""FCM HTTP v1 end to end: a real Herald, a local Google that verifies the OAuth2 assertion and the message."""
from __future__ import annotations

import json
import time

from tests.fake_fcm import FakeGoogle
from tests.herald_server import HeraldServer
from tests.integration.push.support import devices_of, eventually, metric, registered


def test_offline_user_gets_one_fcm_message_with_the_right_fields(native: HeraldServer, google: FakeGoogle,
                                                                user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    shipped = native.publish(to={"users": [user_id]}, type="order.shipped", title="Your order shipped",
                             body="Order #1042", priority="high", groupKey="order:1042", url="/orders/1042",
                             data={"orderId": 1042})
    (received,) = google.wait(token, 1)
    time.sleep(0.5)  # room for a duplicate to show up
    assert len(google.of(token)) == 1 and not google.errors
    message = received.message
    assert message["token"] == token
    assert message["notification"] == {"title": "Your order shipped", "body": "Order #1042"}
    assert message["data"]["kind"] == "notification" and message["data"]["id"] == shipped["id"]
    item = json.loads(message["data"]["notification"])
    assert {k: item[k] for k in ("id", "type", "priority", "groupKey", "url", "data")} == {
        "id": shipped["id"], "type": "order.shipped", "priority": "high", "groupKey": "order:1042",
        "url": "/orders/1042", "data": {"orderId": 1042}}
    android = message["android"]
    assert android["priority"] == "HIGH"
    assert android["collapse_key"] == android["notification"]["tag"] and len(android["collapse_key"]) == 32
    assert 0 < float(android["ttl"].removesuffix("s")) <= 24 * 3600
    assert eventually(lambda: metric(native, 'herald_push_results_total{outcome="delivered",provider="fcm"}') >= 1)
    assert eventually(lambda: devices_of(native, user_id)[0]["lastSuccessAt"])


def test_medium_is_normal_priority_and_the_access_token_is_reused(native: HeraldServer, google: FakeGoogle,
                                                                  user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    native.publish(to={"users": [user_id]}, type="t", title="warm up")  # a token exists after this one
    google.wait(token, 1)
    grants = google.token_grants
    for n in range(3):
        native.publish(to={"users": [user_id]}, type="t", title=f"medium {n}")
    received = google.wait(token, 4)
    assert [r.message["android"]["priority"] for r in received] == ["NORMAL"] * 4
    assert "collapse_key" not in received[-1].message["android"]
    assert google.token_grants == grants  # cached until near expiry: no new OAuth2 exchange per push


def test_unregistered_token_is_removed(native: HeraldServer, google: FakeGoogle, user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    google.answer(token, (404, "UNREGISTERED"))
    native.publish(to={"users": [user_id]}, type="t", title="to an uninstalled app")
    google.wait(token, 1)
    assert eventually(lambda: devices_of(native, user_id) == [])
    native.publish(to={"users": [user_id]}, type="t", title="after removal")
    time.sleep(0.7)
    assert len(google.of(token)) == 1


def test_429_and_503_are_retried_and_delivered_once(native: HeraldServer, google: FakeGoogle, user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    google.answer(token, (429, "QUOTA_EXCEEDED", {"Retry-After": "1"}), (503, "UNAVAILABLE"))
    sent = native.publish(to={"users": [user_id]}, type="t", title="busy Google")
    attempts = google.wait(token, 3)
    time.sleep(1.5)  # past the next backoff: a fourth attempt would show up
    assert [r.status for r in google.of(token)] == [429, 503, 200]
    assert {r.message["data"]["id"] for r in attempts} == {sent["id"]}
    assert attempts[1].at - attempts[0].at >= 0.95  # Retry-After: 1


def test_a_revoked_access_token_is_replaced_and_the_push_goes_through(native: HeraldServer, google: FakeGoogle,
                                                                      user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    native.publish(to={"users": [user_id]}, type="t", title="first")
    google.wait(token, 1)
    grants = google.token_grants
    google.revoke_access_tokens()  # FCM now answers 401 to the cached token
    native.publish(to={"users": [user_id]}, type="t", title="after revocation")
    google.wait(token, 2)
    assert google.token_grants == grants + 1 and not google.errors
    assert [r.status for r in google.of(token)] == [200, 200]


def test_invalid_argument_is_a_failure_with_its_reason_and_is_not_retried(native: HeraldServer, google: FakeGoogle,
                                                                         user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    google.answer(token, (400, "INVALID_ARGUMENT"))
    native.publish(to={"users": [user_id]}, type="t", title="refused")
    google.wait(token, 1)
    assert eventually(lambda: devices_of(native, user_id)[0]["lastError"]) == "rejected: 400 INVALID_ARGUMENT"
    time.sleep(1.0)
    assert len(google.of(token)) == 1


def test_a_long_body_is_cut_to_fit_and_the_message_stays_valid(native: HeraldServer, google: FakeGoogle,
                                                               user_id: str) -> None:
    token = google.device()
    registered(native, user_id, "fcm", token)
    native.publish(to={"users": [user_id]}, type="t", title="long", body="é" * 4000, data={"blob": "x" * 5000})
    (received,) = google.wait(token, 1, delivered=True)
    body = received.message["notification"]["body"]
    assert body.endswith("\u2026") and body.startswith("éé") and len(body) < 4000
    assert json.loads(received.message["data"]["notification"])["data"] is None  # data goes first
