"""The admin console's view of native push: per notification by channel, and a user's devices."""
from __future__ import annotations

import re

from tests.admin_client import signed_in
from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.herald_server import HeraldServer
from tests.integration.push.support import devices_of, eventually, registered


def by_channel(fragment: str) -> dict[str, tuple[int, int, int]]:
    rows = re.findall(r'<tr data-channel="(\w+)">.*?data-c="delivered">(\d+)<.*?data-c="failed">(\d+)<'
                      r'.*?data-c="pending">(\d+)<', fragment, re.S)
    return {provider: (int(a), int(b), int(c)) for provider, a, b, c in rows}


def test_a_notification_shows_pushed_and_failed_per_channel(native: HeraldServer, google: FakeGoogle,
                                                            apple: FakeApple, user_id: str) -> None:
    admin = signed_in(native)
    good, dead = apple.device(), apple.device()
    android = google.device()
    for platform, token in (("apns", good), ("apns", dead), ("fcm", android)):
        registered(native, user_id, platform, token)
    apple.answer(dead, (410, "Unregistered"))
    sent = native.publish(to={"users": [user_id]}, type="t", title="counted per channel")["id"]
    path = f"/admin/notifications/{sent}/delivery"
    assert eventually(lambda: by_channel(admin.get(path).text) == {"fcm": (1, 0, 0), "apns": (1, 1, 0)})
    assert "FCM (Android)" in admin.get(f"/admin/notifications/{sent}").text


def test_a_users_devices_show_platform_app_last_success_and_last_error(native: HeraldServer, google: FakeGoogle,
                                                                       apple: FakeApple, user_id: str) -> None:
    admin = signed_in(native)
    iphone, android = apple.device(), google.device()
    registered(native, user_id, "apns", iphone)
    registered(native, user_id, "fcm", android)
    google.answer(android, (403, "SENDER_ID_MISMATCH"))
    native.publish(to={"users": [user_id]}, type="t", title="one good, one refused")
    eventually(lambda: all(d["lastSuccessAt"] or d["lastError"] for d in devices_of(native, user_id)))
    page = admin.get("/admin/devices", params={"user": user_id}).text
    apns_row = re.search(r'<tr data-platform="apns">(.*?)</tr>', page, re.S).group(1)
    fcm_row = re.search(r'<tr data-platform="fcm">(.*?)</tr>', page, re.S).group(1)
    assert "com.example.herald" in apns_row and "UTC" in re.search(r'data-k="last-success">(.*?)<', apns_row).group(1)
    assert "rejected: 403 SENDER_ID_MISMATCH" in fcm_row
    assert iphone[:8] in apns_row and iphone not in page and android not in page  # hints, never whole tokens
    assert "No phone registered" in admin.get("/admin/devices", params={"user": user_id + "-nobody"}).text
