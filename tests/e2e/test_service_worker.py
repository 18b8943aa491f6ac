"""The service worker and web/push.js in real Chromium, fed by Herald's real pushes.

The chain is real except for the push service: Herald encrypts and sends each
push to the local service of ``tests/fake_push_service.py``, which decrypts it;
the test hands that exact message to Chromium with the DevTools Protocol
(``ServiceWorker.deliverPushMessage``), as Chrome's push service would.

Two things headless Chromium cannot do, and what stands in for them:
- ``PushManager.subscribe`` is refused ("permission denied": no push service is
  reachable), so the enablePush/disablePush test replaces that one browser
  method with one returning a subscription of the local push service.
- No OS notification can be clicked, and a synthetic ``notificationclick`` does
  not carry the window-interaction right that Chromium demands of
  ``clients.openWindow`` and ``client.focus``. The click tests dispatch a
  ``NotificationEvent`` for the real notification to the worker's own listener
  and observe what a real click also does (notification closed, item marked
  read on the server) plus the openWindow/focus call it makes, recorded by a
  wrapper around the browser's method; that the browser then opens or focuses
  the window is not proven here.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Any, Callable, Iterator, TypeVar

import httpx
import pytest
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


@pytest.fixture(scope="module")
def push_service(web_server: HeraldServer) -> Iterator[FakePushService]:
    service = FakePushService().start()
    service.vapid_public_key = httpx.get(web_server.url + "/api/push/vapid-public-key").json()["publicKey"]
    yield service
    service.stop()


@pytest.fixture
def app(context: BrowserContext, web_server: HeraldServer, push_service: FakePushService, user_id: str) -> App:
    app = App(context, web_server, push_service, user_id)
    context.grant_permissions(["notifications"], origin=app.origin)
    # The product's pages: any path under Herald's origin is inside the worker's scope.
    context.route(f"{app.origin}/app/**", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                     body=APP_PAGE))
    signed_in = context.request.post(app.origin + "/api/session", headers={"Authorization": f"Bearer {app.token}"})
    assert signed_in.ok
    return app


def register(app: App) -> Page:
    page = app.open()
    scope = page.evaluate("""() => import('/static/push.js')
        .then(push => push.registerServiceWorker())
        .then(() => navigator.serviceWorker.ready).then(registration => registration.scope)""")
    assert scope == app.origin + "/"
    app.attach_devtools()
    return page


def test_service_worker_registers_with_root_scope_and_controls_app_pages(app: App) -> None:
    page = register(app)
    response = httpx.get(app.origin + "/sw.js")
    assert response.headers["service-worker-allowed"] == "/"
    page.goto(app.origin + "/app/orders/1")  # a page deep in the app is in scope
    assert page.evaluate("navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL") \
        == app.origin + "/sw.js"


def test_push_shows_a_system_notification_and_a_repeat_replaces_it(app: App) -> None:
    app.close(register(app))  # no tab of the app is open: the user is away
    app.subscribe_on_server()
    first_id, first = app.publish(type="order.shipped", title="Your order shipped", body="Order #7 is on its way",
                                  priority="high", groupKey="order:7", url="/app/orders/7")
    app.deliver(first)
    (shown,) = app.wait_for(app.notifications, what="a system notification")
    assert shown["title"] == "Your order shipped" and shown["body"] == "Order #7 is on its way"
    assert shown["tag"] == "order:7" and shown["data"] == {"id": first_id, "url": "/app/orders/7"}
    assert shown["icon"] == app.origin + "/api/push/icon.png" and shown["requireInteraction"] is False

    # Same groupKey: Herald updates the item in place, and the system notification is replaced, not stacked.
    second_id, second = app.publish(type="order.shipped", title="Your order shipped", body="Order #7 was delivered",
                                    priority="high", groupKey="order:7", url="/app/orders/7")
    assert second_id != first_id and second["notification"]["id"] == first_id
    app.deliver(second)
    app.wait_for(lambda: [n for n in app.notifications() if n["body"] == "Order #7 was delivered"],
                 what="the replacement")
    (replaced,) = app.notifications()
    assert replaced["tag"] == "order:7" and replaced["title"] == "Your order shipped (2)"

    urgent_id, urgent = app.publish(type="security.alert", title="New sign-in", priority="urgent")
    app.deliver(urgent)
    app.wait_for(lambda: len(app.notifications()) == 2, what="the urgent notification")
    alert = next(n for n in app.notifications() if n["title"] == "New sign-in")
    assert alert["tag"] == urgent_id and alert["requireInteraction"] is True


def test_a_push_shows_the_items_avatar_and_image_and_its_body_as_plain_text(app: App) -> None:
    app.close(register(app))
    app.subscribe_on_server()
    avatar, image = "http://127.0.0.1:9/anna.png", "http://127.0.0.1:9/post.png"  # loopback: development mode
    _, message = app.publish(type="post.liked", title="Anna liked your post", priority="high",
                             body="**Great** shot, see [the post](https://example.com/p/1)",
                             avatarUrl=avatar, imageUrl=image)
    assert message["notification"]["body"] == "Great shot, see the post"  # plain already in the push
    app.deliver({**message, "notification": {**message["notification"], "body": "**Great** `shot`"}})
    (shown,) = app.wait_for(app.notifications, what="a system notification")
    assert (shown["icon"], shown["image"]) == (avatar, image)
    assert shown["body"] == "Great shot", "the worker drops marks too, whatever the push carried"


def test_a_visible_tab_gets_the_push_instead_of_a_system_notification(app: App) -> None:
    page = register(app)
    page.evaluate("() => { window.handedOver = []; navigator.serviceWorker.onmessage = e => handedOver.push(e.data); }")
    app.subscribe_on_server()
    item_id, message = app.publish(type="comment", title="New comment")
    app.deliver(message)
    handed = app.wait_for(lambda: page.evaluate("window.handedOver"), what="the message to the tab")
    assert handed == [{"type": "herald:push", "notification": message["notification"]}]
    assert handed[0]["notification"]["id"] == item_id
    assert app.notifications() == []
    # Once the tab is gone, the same push becomes a system notification: the silence above was the tab.
    app.close(page)
    app.deliver(message)
    assert [n["data"]["id"] for n in app.wait_for(app.notifications, what="a notification")] == [item_id]


CLICK = """async (id) => {
  // Record what the click handler asks of the browser (then let the browser answer as it does).
  self.requested = [];
  const openWindow = Clients.prototype.openWindow, focus = WindowClient.prototype.focus;
  Clients.prototype.openWindow = function (url) { requested.push(['openWindow', url]); return openWindow.call(this, url); };
  WindowClient.prototype.focus = function () { requested.push(['focus', this.url]); return focus.call(this); };
  const [notification] = (await registration.getNotifications()).filter(n => n.data.id === id);
  self.dispatchEvent(new NotificationEvent('notificationclick', {notification}));
}"""


def test_clicking_with_no_tab_opens_the_items_url_and_marks_it_read(app: App) -> None:
    app.close(register(app))
    app.subscribe_on_server()
    item_id, message = app.publish(type="order.shipped", title="Shipped", url="/app/orders/9")
    app.deliver(message)
    app.wait_for(app.notifications, what="a notification")
    app.worker().evaluate(CLICK, item_id)
    app.wait_for(lambda: app.inbox()["unreadCount"] == 0, what="the item marked read on the server")
    assert [item["read"] for item in app.inbox()["items"] if item["id"] == item_id] == [True]
    assert app.worker().evaluate("self.requested") == [["openWindow", app.origin + "/app/orders/9"]]
    assert app.notifications() == []


def test_a_click_on_an_action_button_records_the_action(app: App) -> None:
    app.close(register(app))
    app.subscribe_on_server()
    item_id, message = app.publish(type="invite", title="Join the team?", actions=[
        {"id": "accept", "label": "Accept", "style": "primary", "url": "/app/team"}, {"id": "decline", "label": "Decline"}])
    app.deliver(message)
    app.wait_for(app.notifications, what="a notification")
    buttons = app.worker().evaluate("() => registration.getNotifications().then(([n]) => n.actions)")
    assert [(b["action"], b["title"]) for b in buttons] == [("accept", "Accept"), ("decline", "Decline")]
    app.worker().evaluate(CLICK.replace("{notification}", "{notification, action: 'accept'}"), item_id)
    app.wait_for(lambda: [i for i in app.inbox()["items"] if i.get("action") == "accept"], what="the action recorded")
    assert app.inbox()["unreadCount"] == 0
    assert app.worker().evaluate("self.requested") == [["openWindow", app.origin + "/app/team"]]


def test_clicking_with_the_items_page_open_focuses_it(app: App) -> None:
    app.close(register(app))
    app.subscribe_on_server()
    item_id, message = app.publish(type="order.shipped", title="Shipped", url="/app/orders/10")
    app.deliver(message)
    app.wait_for(app.notifications, what="a notification")
    elsewhere = app.open("/app/home")
    there = app.open("/app/orders/10")
    app.worker().evaluate(CLICK, item_id)
    app.wait_for(lambda: app.inbox()["unreadCount"] == 0, what="the item marked read on the server")
    assert app.worker().evaluate("self.requested") == [["focus", app.origin + "/app/orders/10"]]
    assert elsewhere.url == app.origin + "/app/home" and there.url == app.origin + "/app/orders/10"


def test_reading_in_a_tab_closes_the_system_notification(app: App) -> None:
    app.close(register(app))
    app.subscribe_on_server()
    read_id, read_message = app.publish(type="t", title="Read me in the tab")
    kept_id, kept_message = app.publish(type="t", title="Still unread")
    app.deliver(read_message)
    app.deliver(kept_message)
    app.wait_for(lambda: len(app.notifications()) == 2, what="two notifications")

    page = app.open()
    page.wait_for_function("() => window.herald")
    status = page.evaluate("""async (id) => {
        const response = await fetch(`/api/notifications/${id}/read`, {method: 'POST', credentials: 'include'});
        window.herald.notifyRead([id]);
        return response.status;
    }""", read_id)
    assert status == 200
    app.wait_for(lambda: len(app.notifications()) == 1, what="the read one to close")
    assert [n["data"]["id"] for n in app.notifications()] == [kept_id]
    page.evaluate("window.herald.notifyRead('all')")  # the stream's {"all": true} read event
    app.wait_for(lambda: app.notifications() == [], what="every notification to close")


def test_enable_push_from_a_click_subscribes_and_disable_push_unsubscribes(app: App) -> None:
    subscription = app.service.subscription()
    app.subscription = subscription
    app.context.add_init_script(script=f"({FAKE_PUSH_MANAGER})({json.dumps(subscription.to_json())})")
    page = register(app)
    page.wait_for_function("() => window.herald")
    page.click("#enable")  # a real user gesture: the only way enablePush may be called
    enabled = app.wait_for(lambda: page.evaluate("window.enabled"), what="enablePush")
    assert enabled["ok"] is True
    (call,) = page.evaluate("window.subscribeCalls()")
    server_key = app.service.vapid_public_key
    assert call["userVisibleOnly"] is True
    assert bytes(call["key"]) == base64.urlsafe_b64decode(server_key + "=" * (-len(server_key) % 4))

    page.close()  # away: Herald now pushes to the subscription the page registered
    item_id, message = app.publish(type="t", title="Pushed after enabling")
    assert message["notification"]["id"] == item_id

    page = app.open()
    page.wait_for_function("() => window.herald")
    page.click("#disable")
    app.wait_for(lambda: page.evaluate("window.disabled"), what="disablePush")
    assert page.evaluate("window.subscribeCalls()")[1:] == ["unsubscribe"]
    page.close()
    app.server.publish(to={"users": [app.user_id]}, type="t", title="After signing out")
    time.sleep(1.0)
    assert len(app.service.of(subscription)) == 1
