"""One signed-in user of a product's app in Chromium, with Herald's service worker and the local push service.

What stands in for what Chromium cannot do headless is said in ``test_service_worker.py``.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable, TypeVar

import httpx
from playwright.sync_api import BrowserContext, Page, Worker

from tests.fake_push_service import FakePushService, FakeSubscription
from tests.herald_server import HeraldServer

T = TypeVar("T")
APP_PAGE = """<!doctype html><meta charset="utf-8"><title>Shop</title>
<button id="enable">Enable notifications</button> <button id="disable">Sign out</button>
<script type="module">
  const push = await import('/static/push.js');
  document.querySelector('#enable').onclick = async () => { window.enabled = await push.enablePush(); };
  document.querySelector('#disable').onclick = async () => { await push.disablePush(); window.disabled = true; };
  window.herald = push;
</script>"""

# Stands in for the push service Chromium cannot reach: subscribe() returns a
# subscription of the local push service, and records how it was asked. Its
# state lives in localStorage, as a browser keeps a subscription across pages.
FAKE_PUSH_MANAGER = """(subscription) => {
  const calls = () => JSON.parse(localStorage.getItem('subscribeCalls') || '[]');
  const record = (call) => localStorage.setItem('subscribeCalls', JSON.stringify([...calls(), call]));
  const make = (key) => ({
    endpoint: subscription.endpoint, options: {applicationServerKey: key.buffer}, toJSON: () => subscription,
    unsubscribe: async () => { localStorage.removeItem('subscribedKey'); record('unsubscribe'); return true; },
  });
  PushManager.prototype.subscribe = async function (options) {
    const key = new Uint8Array(options.applicationServerKey);
    record({userVisibleOnly: options.userVisibleOnly, key: Array.from(key)});
    localStorage.setItem('subscribedKey', JSON.stringify(Array.from(key)));
    return make(key);
  };
  PushManager.prototype.getSubscription = async function () {
    const saved = localStorage.getItem('subscribedKey');
    return saved ? make(new Uint8Array(JSON.parse(saved))) : null;
  };
  window.subscribeCalls = calls;
}"""


def wait_for(page: Page, probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``probe``; waiting through Playwright so that its events (DevTools, workers) keep arriving."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value {value!r}")
        page.wait_for_timeout(50)


class App:
    """One signed-in user of the app in Chromium, with the worker registered and DevTools attached."""

    def __init__(self, context: BrowserContext, server: HeraldServer, service: FakePushService, user_id: str) -> None:
        self.context, self.server, self.service, self.user_id = context, server, service, user_id
        self.origin = server.url
        self.token = server.token(user_id)
        self.registrations: dict[str, str] = {}
        self.subscription: FakeSubscription | None = None

    def open(self, path: str = "/app/home") -> Page:
        page = self.context.new_page()
        page.goto(self.origin + path)
        return page

    def attach_devtools(self) -> None:
        # From a blank page of no origin of ours: closing every app tab leaves DevTools attached.
        self.console = self.context.new_page()
        self.cdp = self.context.new_cdp_session(self.console)
        self.cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: self.registrations.update(
            {r["scopeURL"]: r["registrationId"] for r in event["registrations"] if not r["isDeleted"]}))
        self.cdp.send("ServiceWorker.enable")
        self.wait_for(lambda: self.origin + "/" in self.registrations, what="the registration")

    def wait_for(self, probe: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
        return wait_for(self.console, probe, timeout, what)

    def subscribe_on_server(self) -> FakeSubscription:
        self.subscription = self.service.subscription()
        response = httpx.post(self.origin + "/api/push/subscriptions", json=self.subscription.to_json(),
                              headers={"Authorization": f"Bearer {self.token}"})
        assert response.status_code == 201, response.text
        return self.subscription

    def publish(self, **body: Any) -> tuple[str, dict[str, Any]]:
        """Publish to this user; return the notification id and the push Herald sent for it, decrypted."""
        assert self.subscription is not None
        before = len(self.service.delivered(self.subscription))
        sent = self.server.publish(to={"users": [self.user_id]}, **body)
        pushes = self.service.wait(self.subscription, before + 1, delivered=True)
        return sent["id"], pushes[-1].message

    def deliver(self, message: dict[str, Any]) -> None:
        """What Chrome does when its push service hands over a message."""
        self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": self.origin, "registrationId": self.registrations[self.origin + "/"],
            "data": json.dumps(message)})

    def close(self, page: Page) -> None:
        """Close a tab and wait until the worker no longer counts it as a visible window.

        Chromium may list a just-closed tab as a visible client for a moment; a push handled
        then goes to that tab instead of becoming a system notification.
        """
        page.close()
        self.wait_for(lambda: self.worker().evaluate(
            "() => clients.matchAll({type: 'window', includeUncontrolled: true})"
            ".then(list => list.every(c => c.visibilityState !== 'visible'))"), what="no visible tab")

    def worker(self) -> Worker:
        return self.wait_for(lambda: [w for w in self.context.service_workers if w.url == self.origin + "/sw.js"],
                        what="the service worker")[-1]

    def notifications(self) -> list[dict[str, Any]]:
        return self.worker().evaluate("""() => self.registration.getNotifications().then(list => list.map(n => ({
            title: n.title, body: n.body, tag: n.tag, icon: n.icon, image: n.image, data: n.data,
            requireInteraction: n.requireInteraction})))""")

    def inbox(self) -> dict[str, Any]:
        return httpx.get(self.origin + "/api/notifications", headers={"Authorization": f"Bearer {self.token}"}).json()


def register(app: App) -> Page:
    page = app.open()
    scope = page.evaluate("""() => import('/static/push.js')
        .then(push => push.registerServiceWorker())
        .then(() => navigator.serviceWorker.ready).then(registration => registration.scope)""")
    assert scope == app.origin + "/"
    app.attach_devtools()
    return page
