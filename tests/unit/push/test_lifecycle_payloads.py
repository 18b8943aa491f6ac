"""Pushes of replaced and retracted items: collapse by the replace key, retract updates on every provider."""
from __future__ import annotations

import json

from herald.push.apns import ApnsProvider
from herald.push.fcm import FcmProvider
from herald.push.message import topic_for
from herald.push.vapid import load_keys
from herald.push.webpush import WebPushProvider
from herald.settings import load_settings
from tests.unit.push.support import item


def test_the_replace_key_is_the_collapse_key_on_every_provider(fcm: FcmProvider, apns: ApnsProvider,  # noqa: F811
                                                               tmp_path) -> None:
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path)})
    webpush = WebPushProvider(settings, load_keys(settings))
    replaced = item(replaceKey="order:1042")
    for provider in (webpush, fcm, apns):
        assert provider.prepare(replaced).topic == topic_for("order:1042"), provider.name
        assert provider.prepare(item()).topic is None
    android = json.loads(fcm.prepare(replaced).payload)["android"]
    assert android["collapse_key"] == topic_for("order:1042")
    assert android["notification"]["tag"] == android["collapse_key"]


def test_retract_updates_show_nothing_and_name_the_items(fcm: FcmProvider, apns: ApnsProvider,  # noqa: F811
                                                         tmp_path) -> None:
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path)})
    webpush = WebPushProvider(settings, load_keys(settings))
    assert json.loads(webpush.prepare_retract(["a", "b"]).payload) == {"kind": "retract", "ids": ["a", "b"]}
    android = json.loads(fcm.prepare_retract(["a"]).payload)
    assert android["data"] == {"kind": "retract", "ids": '["a"]'} and "notification" not in android
    ios = json.loads(apns.prepare_retract(["a"]).payload)
    assert ios == {"aps": {"content-available": 1}, "herald": {"kind": "retract", "ids": ["a"]}}
