"""Preferences, quiet hours and presence as every push channel sees them: the local push service, FCM and APNs.

Quiet hours come from a ``dndUntil`` a few seconds ahead: the real clock, no backdoor.
"""
from __future__ import annotations

import asyncio
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.fake_push_service import FakePushService
from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.integration.push.support import FAST_RETRIES, auth, native_env, registered, subscribe_browser
from tests.transports import subscribe as listen

QUIET_SECONDS = 4


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def herald(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle,
           apple: FakeApple) -> Iterator[HeraldServer]:
    database_url = create_postgres_database() if request.param == "postgres" else ""
    directory = tmp_path_factory.mktemp(f"prefs-{request.param}")
    server = HeraldServer(directory / "herald", database_url, **FAST_RETRIES,
                          **native_env(google, apple, directory / "keys"), HERALD_QUIET_SWEEP_SECONDS="0.3",
                          HERALD_PUSH_ACK_TIMEOUT_SECONDS="1").start()
    yield server
    server.stop()
    if database_url:
        drop_postgres_database(database_url)


class Phone:
    """One user's three targets: a browser on the local push service, an Android phone, an iPhone."""

    def __init__(self, herald: HeraldServer, push_service: FakePushService, google: FakeGoogle, apple: FakeApple,
                 user_id: str) -> None:
        self.push_service, self.google, self.apple = push_service, google, apple
        self.browser = subscribe_browser(herald, push_service, user_id)
        self.android, self.iphone = google.device(), apple.device()
        registered(herald, user_id, "fcm", self.android)
        registered(herald, user_id, "apns", self.iphone)

    def counts(self) -> tuple[int, int, int]:
        return (len(self.push_service.of(self.browser)), len(self.google.of(self.android)),
                len(self.apple.of(self.iphone)))

    def titles(self) -> tuple[str, str, str]:
        return (self.push_service.of(self.browser)[-1].message["notification"]["title"],
                self.google.of(self.android)[-1].message["notification"]["title"],
                self.apple.of(self.iphone)[-1].payload["aps"]["alert"]["title"])


@pytest.fixture
def phone(herald: HeraldServer, push_service: FakePushService, google: FakeGoogle, apple: FakeApple,
          user_id: str) -> Phone:
    return Phone(herald, push_service, google, apple, user_id)


def prefer(herald: HeraldServer, user_id: str, **body: Any) -> None:
    response = httpx.put(herald.url + "/api/preferences", json=body, headers=auth(herald, user_id))
    assert response.status_code == 200, response.text


def settle(phone: Phone, expected: tuple[int, int, int], seconds: float = 1.5) -> None:
    """The counts reach ``expected`` and stay there: nothing more arrives late."""
    deadline = time.monotonic() + 10
    while phone.counts() != expected:
        assert time.monotonic() < deadline, f"{phone.counts()} != {expected}"
        time.sleep(0.05)
    time.sleep(seconds)
    assert phone.counts() == expected


def test_quiet_hours_push_nothing_then_one_digest_per_device(herald: HeraldServer, phone: Phone,
                                                            user_id: str) -> None:
    until = datetime.now(timezone.utc) + timedelta(seconds=QUIET_SECONDS)
    prefer(herald, user_id, dndUntil=until.isoformat())
    for n in range(9):
        herald.publish(to={"users": [user_id]}, type="order.shipped", title=f"while away {n}", priority="high")
    # Nothing while quiet, on any channel.
    while datetime.now(timezone.utc) < until - timedelta(seconds=0.5):
        assert phone.counts() == (0, 0, 0)
        time.sleep(0.1)
    # Then exactly one push per device, never nine.
    settle(phone, (1, 1, 1))
    assert phone.titles() == ("9 notifications while you were away",) * 3
    # The inbox has every item.
    items = httpx.get(herald.url + "/api/notifications", headers=auth(herald, user_id)).json()["items"]
    assert len(items) == 9


def test_resuming_early_sends_the_digest_at_once(herald: HeraldServer, phone: Phone, user_id: str) -> None:
    prefer(herald, user_id, dndUntil=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat())
    herald.publish(to={"users": [user_id]}, type="order.shipped", title="held", priority="high")
    herald.publish(to={"users": [user_id]}, type="order.shipped", title="held too", priority="high")
    settle(phone, (0, 0, 0), 1.0)
    prefer(herald, user_id)  # "Resume": do not disturb off
    settle(phone, (1, 1, 1))
    assert phone.titles() == ("2 notifications while you were away",) * 3


def test_urgent_and_critical_items_break_through_quiet_hours(herald: HeraldServer, phone: Phone,
                                                             user_id: str) -> None:
    alarm = f"alarm{secrets.token_hex(3)}"
    response = httpx.put(herald.url + "/api/preferences/defaults", json={"categories": {alarm: {"critical": True}}},
                         headers={"Authorization": f"Bearer {herald.api_key}"})
    assert response.status_code == 200, response.text
    prefer(herald, user_id, dndUntil=(datetime.now(timezone.utc) + timedelta(hours=1)).isoformat())
    herald.publish(to={"users": [user_id]}, type="order.shipped", title="held", priority="high")
    herald.publish(to={"users": [user_id]}, type="order.shipped", title="urgent", priority="urgent")
    herald.publish(to={"users": [user_id]}, type="security.login", category=alarm, title="critical")
    settle(phone, (2, 2, 2))


def test_a_category_off_on_a_channel_pushes_elsewhere_but_critical_is_never_off(
        herald: HeraldServer, phone: Phone, user_id: str) -> None:
    alarm = f"alarm{secrets.token_hex(3)}"
    httpx.put(herald.url + "/api/preferences/defaults", json={"categories": {alarm: {"critical": True}}},
              headers={"Authorization": f"Bearer {herald.api_key}"}).raise_for_status()
    prefer(herald, user_id, categories={"promo": {"webPush": False, "apns": False}, "news": {
        "webPush": False, "fcm": False, "apns": False}})
    herald.publish(to={"users": [user_id]}, type="promo.sale", title="only on Android", priority="high")
    settle(phone, (0, 1, 0))
    herald.publish(to={"users": [user_id]}, type="x", category="news", title="nowhere", priority="high")
    herald.publish(to={"users": [user_id]}, type="x", category=alarm, title="everywhere", priority="high")
    settle(phone, (1, 2, 1))
    assert phone.titles() == ("everywhere",) * 3


async def test_a_visible_tab_means_no_push_and_a_hidden_one_does_not(herald: HeraldServer, phone: Phone,
                                                                    user_id: str) -> None:
    presence = herald.url + "/api/presence"
    async with listen("sse", herald.url, herald.token(user_id)) as stream:
        await stream.until("ready")
        async with httpx.AsyncClient(headers=auth(herald, user_id)) as client:
            assert (await client.post(presence, json={"client": "tab", "visible": True})).status_code == 204
            await asyncio.to_thread(herald.publish, to={"users": [user_id]}, type="t", title="looking", priority="high")
            await stream.until("notification")
            # Unacknowledged past the hold (1 s): it would be pushed, but the user is looking.
            await asyncio.to_thread(settle, phone, (0, 0, 0), 2.0)
            assert (await client.post(presence, json={"client": "tab", "visible": False})).status_code == 204
            await asyncio.to_thread(herald.publish, to={"users": [user_id]}, type="t", title="away", priority="high")
            await asyncio.to_thread(settle, phone, (1, 1, 1), 0.5)


async def test_no_digest_when_quiet_hours_end_while_the_user_is_looking(herald: HeraldServer, phone: Phone,
                                                                        user_id: str) -> None:
    until = datetime.now(timezone.utc) + timedelta(seconds=2)
    await asyncio.to_thread(prefer, herald, user_id, dndUntil=until.isoformat())
    await asyncio.to_thread(herald.publish, to={"users": [user_id]}, type="t", title="held", priority="high")
    async with listen("sse", herald.url, herald.token(user_id)) as stream:
        await stream.until("ready")
        async with httpx.AsyncClient(headers=auth(herald, user_id)) as client:
            assert (await client.post(herald.url + "/api/presence",
                                      json={"client": "tab", "visible": True})).status_code == 204
            # Past the end and a few sweeps: the user saw the items in the open tab, so nothing is pushed.
            await asyncio.sleep(max(0.0, (until - datetime.now(timezone.utc)).total_seconds()) + 1.5)
            await asyncio.to_thread(settle, phone, (0, 0, 0), 0.5)
    row = herald.sql("SELECT held, digest_at FROM preferences WHERE user_id = :u", u=user_id)
    assert list(row) == [(0, None)]  # claimed, not left to fire later
