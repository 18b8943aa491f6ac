"""A notification's life in real Chromium: replaced by key, silent, retracted and expired, in tabs and the worker."""
from __future__ import annotations

import time
from typing import Callable

import httpx
import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, keep_toasts, recording_context, send, sign_in, use_transport, wait_for_transport
from tests.e2e.service_worker import App, register
from tests.herald_server import HeraldServer

LISTED = """() => navigator.serviceWorker.ready
    .then(r => r.getNotifications()).then(list => list.map(n => ({ tag: n.tag, id: n.data.id, body: n.body })))"""


def test_three_status_updates_leave_one_item_and_one_notification_with_the_last(app: App) -> None:  # noqa: F811
    app.close(register(app))  # away: every status arrives as a push the worker shows
    app.subscribe_on_server()
    ids = []
    for status in ("Confirmed", "Shipped", "Delivered"):
        _, message = app.publish(type="order.status", title=f"Order #1042: {status}", body=status,
                                 priority="high", replaceKey="order:1042", url="/app/orders/1042")
        ids.append(message["notification"]["id"])
        app.deliver(message)
        app.wait_for(lambda body=status: [n for n in app.notifications() if n["body"] == body], what=status)
    assert len(set(ids)) == 1, "every status is the one item, updated in place"
    (shown,) = app.notifications()
    assert shown["title"] == "Order #1042: Delivered" and shown["tag"] == "order:1042"
    assert shown["data"] == {"id": ids[0], "url": "/app/orders/1042"}
    inbox = app.inbox()
    assert [item["title"] for item in inbox["items"]] == ["Order #1042: Delivered"] and inbox["unreadCount"] == 1


def test_a_retract_push_closes_the_notification_of_a_user_with_no_tab(app: App) -> None:  # noqa: F811
    app.close(register(app))
    app.subscribe_on_server()
    item_id, message = app.publish(type="t", title="Sent by mistake", priority="high")
    app.deliver(message)
    app.wait_for(app.notifications, what="the notification")
    before = len(app.service.delivered(app.subscription))  # type: ignore[arg-type]
    assert httpx.delete(f"{app.origin}/api/notifications/{item_id}", headers=app.server.headers()).status_code == 200
    retract = app.service.wait(app.subscription, before + 1, delivered=True)[-1].message  # type: ignore[arg-type]
    assert retract == {"kind": "retract", "ids": [item_id]}
    app.deliver(retract)
    app.wait_for(lambda: app.notifications() == [], timeout=1.0, what="the notification to close within a second")
    assert app.inbox()["items"] == []


def two_tabs(new_context: Callable[..., BrowserContext], server: HeraldServer, user_id: str) -> tuple[Center, Center]:
    """Two tabs of one signed-in user under Herald's service worker; the first hidden, so it raises notifications."""
    first = sign_in(recording_context(new_context, server, granted=True), server, user_id)
    first.page.wait_for_function("navigator.serviceWorker.getRegistration().then(r => Boolean(r && r.active))")
    first.page.reload()
    first.expect_status("connected")
    page = first.page.context.new_page()
    page.goto(server.url + "/")
    second = Center(page)
    second.expect_status("connected")
    for center in (first, second):
        center.open()
    first.page.evaluate("window.__setHidden(true)")
    return first, second


def test_a_retract_removes_the_item_from_two_open_tabs_and_the_shown_notification_within_a_second(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    first, second = two_tabs(new_context, web_server, user_id)
    send(web_server, user_id, "Stays")
    doomed = send(web_server, user_id, "Wrong price: 0.00", priority="urgent")
    for center in (first, second):
        expect(center.item("Wrong price")).to_have_count(1)
        center.expect_unread(2)
    first.page.wait_for_function(f"({LISTED})().then(list => list.some(n => n.id === '{doomed}'))")

    answer = httpx.delete(f"{web_server.url}/api/notifications/{doomed}", headers=web_server.headers())
    assert answer.json() == {"removed": 1}
    retracted = time.monotonic()
    for center in (first, second):
        expect(center.item("Wrong price")).to_have_count(0, timeout=1000)
        expect(center.item("Stays")).to_have_count(1)
        center.expect_unread(1, timeout=1000)
        expect(center.toast("Wrong price")).to_have_count(0)
    first.page.wait_for_function(f"({LISTED})().then(list => list.length === 0)", timeout=1000)
    assert time.monotonic() - retracted < 2.5, "each of the checks above waited at most its second"


def test_retract_by_replace_key_reaches_the_open_tab(new_context: Callable[..., BrowserContext],
                                                     web_server: HeraldServer, user_id: str) -> None:
    first, _ = two_tabs(new_context, web_server, user_id)
    send(web_server, user_id, "Order #8: packed", priority="high", replaceKey="order:8")
    expect(first.item("Order #8")).to_have_count(1)
    answer = httpx.post(f"{web_server.url}/api/retract", json={"replaceKey": "order:8", "to": {"users": [user_id]}},
                        headers=web_server.headers())
    assert answer.json() == {"removed": 1}
    expect(first.item("Order #8")).to_have_count(0, timeout=1000)
    first.page.wait_for_function(f"({LISTED})().then(list => list.length === 0)", timeout=1000)


def test_an_expired_item_disappears_live(new_context: Callable[..., BrowserContext], web_server: HeraldServer,
                                         user_id: str) -> None:
    center = sign_in(new_context(), web_server, user_id)
    center.open()
    send(web_server, user_id, "Flash sale: 10 minutes", ttlSeconds=1)
    expect(center.item("Flash sale")).to_have_count(1)
    center.expect_unread(1)
    expect(center.item("Flash sale")).to_have_count(0, timeout=3000)
    center.expect_unread(0)
    expect(center.host.locator(".empty")).to_be_visible()


def test_status_updates_replace_the_item_and_its_toast_and_a_silent_one_alerts_nobody(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    keep_toasts(center)
    center.open()
    send(web_server, user_id, "Upload: started", replaceKey="upload:1", data={"progress": 0})
    expect(center.toast("Upload: started")).to_have_count(1)
    center.item("Upload: started").get_by_role("button", name="Mark read: Upload: started").click()
    center.expect_unread(0)
    send(web_server, user_id, "Upload: 50%", replaceKey="upload:1", data={"progress": 50}, silent=True)
    expect(center.item("Upload: 50%")).to_have_count(1)
    expect(center.items).to_have_count(1)
    center.expect_unread(0)  # silent: it stays read
    expect(center.toast("Upload: 50%")).to_have_count(0)
    send(web_server, user_id, "Upload: done", replaceKey="upload:1", data={"progress": 100})
    expect(center.toast("Upload: done")).to_have_count(1)
    expect(center.items).to_have_count(1)
    expect(center.item("Upload: done")).to_have_count(1)
    center.expect_unread(1)  # a new version is news: unread again


@pytest.mark.parametrize("transport", ["sse", "websocket", "poll"])
def test_replace_and_retract_reach_the_page_on_every_transport(new_context: Callable[..., BrowserContext],
                                                               web_server: HeraldServer, user_id: str,
                                                               transport: str) -> None:
    context = new_context()
    if transport == "poll":
        # A proxy that refuses streaming: the client falls back to long polling.
        context.route("**/api/notifications/stream*", lambda route: route.abort())
    center = sign_in(context, web_server, user_id)
    if transport == "websocket":
        use_transport(center.page, "websocket")
    wait_for_transport(center.page, transport)
    center.open()
    first = send(web_server, user_id, "Order #9: confirmed", replaceKey="order:9")
    send(web_server, user_id, "Order #9: shipped", replaceKey="order:9")
    expect(center.item("Order #9: shipped")).to_have_count(1)
    expect(center.items).to_have_count(1)
    expect(center.item("Order #9")).to_have_attribute("data-id", first)
    httpx.post(f"{web_server.url}/api/retract", json={"replaceKey": "order:9", "to": {"users": [user_id]}},
               headers=web_server.headers())
    expect(center.items).to_have_count(0, timeout=3000)
    center.expect_unread(0)
