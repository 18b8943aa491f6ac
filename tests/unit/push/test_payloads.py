"""What FCM and APNs pushes carry, built without a network: fields, priorities, and the 4 KB limits."""
from __future__ import annotations

import json
from typing import Any

import pytest

from herald.push.apns import MAX_PAYLOAD_BYTES, ApnsProvider
from herald.push.fcm import FcmProvider
from herald.push.message import fit, topic_for
from tests.unit.push.support import item


@pytest.mark.parametrize(("priority", "android", "apple"), [("urgent", "HIGH", "10"), ("high", "HIGH", "10"),
                                                             ("medium", "NORMAL", "5"), ("low", "NORMAL", "5")])
def test_priorities_map_to_each_service(fcm: FcmProvider, apns: ApnsProvider, priority: str, android: str,
                                        apple: str) -> None:
    pushed = fcm.prepare(item(priority=priority))
    assert pushed.urgency == android == json.loads(pushed.payload)["android"]["priority"]
    alert = apns.prepare(item(priority=priority))
    assert alert.urgency == apple
    aps = json.loads(alert.payload)["aps"]
    assert ("interruption-level" in aps) == (priority == "urgent")


def test_a_group_key_collapses_on_both(fcm: FcmProvider, apns: ApnsProvider) -> None:
    pushed, alert = fcm.prepare(item(groupKey="post:42")), apns.prepare(item(groupKey="post:42"))
    assert pushed.topic == alert.topic == topic_for("post:42")
    android = json.loads(pushed.payload)["android"]
    assert android["collapse_key"] == android["notification"]["tag"] == topic_for("post:42")
    assert json.loads(alert.payload)["aps"]["thread-id"] == "post:42"


@pytest.mark.parametrize("body", ["a" * 9000, "é" * 5000, "\U0001F600" * 3000, '"\\' * 3000, "\n" * 4000])
def test_long_bodies_are_cut_to_the_limit_not_to_nothing(fcm: FcmProvider, apns: ApnsProvider, body: str) -> None:
    alert = apns.prepare(item(body=body, data={"x": "y" * 3000}))
    assert len(alert.payload.encode()) <= MAX_PAYLOAD_BYTES
    payload = json.loads(alert.payload)
    cut = payload["aps"]["alert"]["body"]
    assert cut.endswith("\u2026") and body.startswith(cut[:-1]) and len(cut) > 100
    assert payload["herald"]["notification"]["data"] is None
    message = json.loads(fcm.prepare(item(body=body)).payload)
    assert len(fcm.prepare(item(body=body)).payload.encode()) <= 4000
    assert message["notification"]["body"].endswith("\u2026") and len(message["notification"]["body"]) > 100


def test_what_fits_is_left_whole(apns: ApnsProvider) -> None:
    payload = json.loads(apns.prepare(item(body="short", data={"orderId": 7})).payload)
    assert payload["aps"]["alert"]["body"] == "short" and payload["herald"]["notification"]["data"] == {"orderId": 7}


def test_fit_keeps_the_longest_body_that_fits() -> None:
    def build(fitted: dict[str, Any]) -> bytes:
        return json.dumps(fitted, ensure_ascii=False).encode()

    fitted = fit({"body": "x" * 500, "data": None}, build, 200)
    assert len(fitted) <= 200
    one_more = json.loads(fitted)["body"][:-1] + "x" + "\u2026"
    assert len(build({"body": one_more, "data": None})) > 200


def test_read_updates_are_silent(fcm: FcmProvider, apns: ApnsProvider) -> None:
    data = json.loads(fcm.prepare_read(["a", "b"], False).payload)  # type: ignore[union-attr]
    assert "notification" not in data and data["data"] == {"kind": "read", "ids": '["a","b"]', "all": "false"}
    background = apns.prepare_read(["a"], True)
    assert background is not None and background.urgency == "5"
    assert json.loads(background.payload) == {"aps": {"content-available": 1},
                                              "herald": {"kind": "read", "ids": ["a"], "all": True}}


def test_digests_say_how_many_and_collapse(fcm: FcmProvider, apns: ApnsProvider) -> None:
    pushed, alert = fcm.prepare_digest(3, 5), apns.prepare_digest(1, 5)
    assert json.loads(pushed.payload)["notification"]["title"] == "3 new notifications"
    assert json.loads(alert.payload)["aps"]["alert"]["title"] == "1 new notification"
    assert pushed.topic == alert.topic == topic_for("herald:digest")


def test_every_fcm_data_value_is_a_string(fcm: FcmProvider) -> None:
    for prepared in (fcm.prepare(item(data={"n": 1})), fcm.prepare_digest(2, 9), fcm.prepare_read(["a"], True)):
        assert prepared is not None
        assert all(isinstance(v, str) for v in json.loads(prepared.payload)["data"].values())
