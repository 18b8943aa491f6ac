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

import httpx

from tests.e2e.service_worker import FAKE_PUSH_MANAGER, App, register


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
