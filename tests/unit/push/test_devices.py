"""Which device registrations are accepted: token format and length, app id, configured platforms."""
from __future__ import annotations

import pytest

from herald.errors import HeraldError
from herald.push.devices import check_device, token_hint

FCM = "dGVzdGluc3RhbmNlaWQ:APA91b" + "A" * 120
APNS = "0123456789abcdef" * 4


def check(platform: str, token: str, app: str = "com.example.app", enabled: tuple[str, ...] = ("fcm", "apns")):  # type: ignore[no-untyped-def]
    return check_device(platform, token, app, enabled=enabled, apns_topics=("com.example.app",))


def test_good_tokens_are_accepted_and_apns_hex_is_lowercased() -> None:
    assert check("fcm", FCM).token == FCM
    assert check("apns", APNS.upper()).token == APNS
    assert check("apns", "ab" * 100).token == "ab" * 100  # Apple asks not to assume 32 bytes


@pytest.mark.parametrize(("platform", "token", "app"), [
    ("apns", "ab" * 31, "com.example.app"), ("apns", "ab" * 101, "com.example.app"), ("apns", APNS + "a", "com.example.app"),
    ("apns", "<" + APNS + ">", "com.example.app"), ("apns", APNS, "com.example.other"),
    ("fcm", "x" * 63, "com.example.app"), ("fcm", "x" * 1025, "com.example.app"), ("fcm", FCM + "\n", "com.example.app"),
    ("fcm", FCM.replace("A", "/", 1), "com.example.app"), ("fcm", FCM, ""), ("fcm", FCM, ".hidden"),
    ("fcm", FCM, "a b"), ("web", FCM, "com.example.app"),
])
def test_bad_registrations_are_400(platform: str, token: str, app: str) -> None:
    with pytest.raises(HeraldError) as raised:
        check(platform, token, app)
    assert (raised.value.status, raised.value.code) == (400, "invalid_request")


def test_a_platform_that_is_off_is_refused_with_the_setting_to_turn_on() -> None:
    with pytest.raises(HeraldError, match="HERALD_FCM_CREDENTIALS_FILE"):
        check("fcm", FCM, enabled=("apns",))


def test_the_hint_is_not_the_token() -> None:
    assert token_hint(APNS) == APNS[:8] + "\u2026" and len(token_hint(FCM)) == 9
