"""The publish fields of a notification's life (replaceKey, silent, expiresAt, ttlSeconds): what is refused, and why."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec
import pytest

from herald.errors import HeraldError
from herald.wire import PublishRequest, RetractRequest, check_publish, check_retract, expiry_ms


def request(**fields: Any) -> PublishRequest:
    return msgspec.convert({"to": {"users": ["u"]}, "type": "t", "title": "x", **fields}, PublishRequest)


def refused(check: Any, value: Any) -> str:
    with pytest.raises(HeraldError) as error:
        check(value)
    assert error.value.status == 400 and error.value.code == "invalid_request"
    return error.value.message


def ahead(seconds: float) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "new\nline", "\x7f", "\x85", "nul\x00"])
def test_replace_keys_are_short_printable_strings(key: str) -> None:
    assert "replaceKey" in refused(check_publish, request(replaceKey=key))


def test_a_good_replace_key_passes_and_is_kept() -> None:
    check_publish(request(replaceKey="order:1042 \u00e9"))
    assert request(replaceKey="x" * 200).replace_key == "x" * 200


def test_replace_and_group_keys_do_not_combine() -> None:
    assert refused(check_publish, request(replaceKey="a", groupKey="b")) == 'Give "replaceKey" or "groupKey", not both.'


def test_expiry_is_one_of_two_fields_in_the_future_within_30_days() -> None:
    assert refused(check_publish, request(ttlSeconds=5, expiresAt=ahead(60).isoformat())).startswith("Give")
    assert refused(check_publish, request(expiresAt=ahead(-1).isoformat())) == '"expiresAt" is in the past.'
    assert "30 days" in refused(check_publish, request(expiresAt=ahead(31 * 86400).isoformat()))
    check_publish(request(expiresAt=ahead(29 * 86400).isoformat()))
    with pytest.raises(msgspec.ValidationError):
        request(ttlSeconds=30 * 86400 + 1)
    with pytest.raises(msgspec.ValidationError):
        request(expiresAt="2030-01-01T00:00:00")  # no offset


def test_expiry_in_milliseconds() -> None:
    assert expiry_ms(request(ttlSeconds=60), 1_000) == 61_000
    assert expiry_ms(request(expiresAt="2030-01-01T00:00:00Z"), 0) == 1_893_456_000_000
    assert expiry_ms(request(), 0) is None


def test_a_live_event_has_no_life_to_manage() -> None:
    for fields in ({"replaceKey": "k"}, {"silent": True}, {"ttlSeconds": 5}):
        live = request(**fields, persist=False, to={"channel": "c"})
        assert "need the inbox" in refused(check_publish, live)


def test_retract_takes_a_key_and_a_target_of_users_group_topic_or_all() -> None:
    check_retract(msgspec.convert({"replaceKey": "k", "to": {"topic": "t"}}, RetractRequest))
    for to in ({}, {"channel": "c"}, {"users": ["u"], "group": "g"}, {"all": False}):
        refused(check_retract, msgspec.convert({"replaceKey": "k", "to": to}, RetractRequest))
    refused(check_retract, msgspec.convert({"replaceKey": "a\x1fb", "to": {"all": True}}, RetractRequest))
