"""Helpers of the native push tests: register devices and read what Herald says, as an app and an operator would."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import httpx

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.fake_push_service import FakePushService, FakeSubscription
from tests.herald_server import HeraldServer

# Retries fast enough to watch: 0.3 s, then at most 1 s apart, four attempts.
FAST_RETRIES = {"HERALD_PUSH_RETRY_BASE_SECONDS": "0.3", "HERALD_PUSH_RETRY_MAX_SECONDS": "1",
                "HERALD_PUSH_MAX_ATTEMPTS": "4"}


def native_env(google: FakeGoogle, apple: FakeApple, directory: Path) -> dict[str, str]:
    """Settings that point Herald's FCM and APNs providers at the local servers."""
    directory.mkdir(parents=True, exist_ok=True)
    return {"HERALD_FCM_CREDENTIALS_FILE": str(google.key_file(directory)), "HERALD_FCM_ENDPOINT": google.origin,
            **apple.env()}


def auth(herald: HeraldServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {herald.token(user_id)}"}


def register(herald: HeraldServer, user_id: str, platform: str, token: str, app: str = "com.example.herald",
             headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(herald.url + "/api/devices", json={"platform": platform, "token": token, "app": app},
                      headers=headers or auth(herald, user_id))


def registered(herald: HeraldServer, user_id: str, platform: str, token: str) -> None:
    response = register(herald, user_id, platform, token)
    assert response.status_code == 201, response.text


def devices_of(herald: HeraldServer, user_id: str) -> list[dict[str, Any]]:
    response = httpx.get(herald.url + "/api/devices", headers=auth(herald, user_id))
    assert response.status_code == 200, response.text
    return response.json()["devices"]  # type: ignore[no-any-return]


def metric(herald: HeraldServer, name: str) -> float:
    """One sample of /metrics by its exact name and labels (``herald_x_total{a="b"}``); 0 when absent."""
    for line in httpx.get(herald.url + "/metrics").text.splitlines():
        if line.split(" ")[0] == name:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.05)


def subscribe_browser(herald: HeraldServer, service: FakePushService, user_id: str) -> FakeSubscription:
    """A browser of this user subscribed to Web Push at the local push service."""
    service.vapid_public_key = httpx.get(herald.url + "/api/push/vapid-public-key").json()["publicKey"]
    browser = service.subscription()
    response = httpx.post(herald.url + "/api/push/subscriptions", json=browser.to_json(), headers=auth(herald, user_id))
    assert response.status_code == 201, response.text
    return browser
