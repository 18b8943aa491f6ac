"""A hidden tab raises system notifications for urgent and high items, once each, and asks permission only on a click."""
from __future__ import annotations

from typing import Callable

from playwright.sync_api import BrowserContext, Route, expect

from tests.e2e.center import recording_context, send, shown, sign_in
from tests.herald_server import HeraldServer

# Stands in for the push engineer's web/push.js, to prove the calls this element makes into it.
FAKE_PUSH = """
window.__push = [];
export async function enablePush() { window.__push.push(['enablePush']); }
export function notifyRead(ids) { window.__push.push(['notifyRead', ids]); }
"""


def test_hidden_tab_raises_a_system_notification_for_urgent_and_high_only(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    center.page.evaluate("window.__setHidden(true)")

    urgent = send(web_server, user_id, "Payments are failing", priority="urgent", body="Since 10:02")
    send(web_server, user_id, "Someone followed you", priority="medium")
    send(web_server, user_id, "Weekly digest", priority="low")
    high = send(web_server, user_id, "Deploy finished", priority="high")
    center.expect_unread(4)
    center.page.wait_for_function("window.__shown.length >= 2")
    assert shown(center) == [{"title": "Payments are failing", "tag": urgent}, {"title": "Deploy finished", "tag": high}]

    # Visible again: toasts are enough, the operating system is left alone.
    center.page.evaluate("window.__setHidden(false)")
    send(web_server, user_id, "Another outage", priority="urgent")
    center.expect_unread(5)
    assert len(shown(center)) == 2


def test_a_growing_group_keeps_one_system_notification(new_context: Callable[..., BrowserContext],
                                                       web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    center.page.evaluate("window.__setHidden(true)")
    send(web_server, user_id, "Anna mentioned you", priority="high", groupKey="mentions", actor="Anna")
    send(web_server, user_id, "Ben mentioned you", priority="high", groupKey="mentions", actor="Ben")
    center.page.wait_for_function("window.__shown.length >= 2")
    # Both carry the group's tag (as the service worker's pushes do), so the second replaces the first.
    assert shown(center) == [{"title": "Anna mentioned you", "tag": "mentions"},
                             {"title": "Ben and 1 other mentioned you", "tag": "mentions"}]


def test_permission_is_asked_only_from_the_enable_button_then_push_is_enabled(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    context = recording_context(new_context, web_server, granted=False)

    def fake_push(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript", body=FAKE_PUSH)

    context.route("**/static/push.js", fake_push)
    center = sign_in(context, web_server, user_id)
    item = send(web_server, user_id, "Hello")
    center.expect_unread(1)
    assert center.page.evaluate("window.__asks") == 0

    center.open()
    center.host.get_by_role("button", name="Enable desktop notifications").click()
    center.page.wait_for_function("window.__push && window.__push.length === 1")
    assert center.page.evaluate("window.__asks") == 1
    assert center.page.evaluate("window.__push") == [["enablePush"]]
    expect(center.host.get_by_role("button", name="Enable desktop notifications")).to_be_hidden()

    # Reading an item tells the service worker to close its system notification.
    center.item("Hello").get_by_role("button", name="Mark read: Hello").click()
    center.page.wait_for_function("window.__push.length === 2")
    assert center.page.evaluate("window.__push")[1] == ["notifyRead", [item]]


def test_without_push_module_enabling_still_grants_permission(new_context: Callable[..., BrowserContext],
                                                              web_server: HeraldServer, user_id: str) -> None:
    context = recording_context(new_context, web_server, granted=False)
    context.route("**/static/push.js", lambda route: route.fulfill(status=404, body="not here"))
    center = sign_in(context, web_server, user_id)
    center.open()
    center.host.get_by_role("button", name="Enable desktop notifications").click()
    expect(center.host.get_by_role("button", name="Enable desktop notifications")).to_be_hidden()
    assert center.page.evaluate("window.__asks") == 1
    # Marking read still works with no push module to tell.
    send(web_server, user_id, "Still fine")
    center.item("Still fine").get_by_role("button", name="Mark read: Still fine").click()
    center.expect_unread(0)


def test_a_page_under_the_service_worker_shows_through_it_and_reading_closes_it(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    # Permission granted earlier: the element re-registers Herald's service worker on load.
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    center.page.wait_for_function("navigator.serviceWorker.getRegistration().then(r => Boolean(r && r.active))")
    center.page.reload()
    center.expect_status("connected")
    assert center.page.evaluate("Boolean(navigator.serviceWorker.controller)")
    center.page.evaluate("window.__setHidden(true)")

    item = send(web_server, user_id, "Checkout is down", priority="urgent")
    listed = """() => navigator.serviceWorker.ready
        .then(r => r.getNotifications()).then(list => list.map(n => ({ tag: n.tag, id: n.data.id })))"""
    # One wait on the exact content: a repeat of the item re-shows it under the same tag, and
    # getNotifications() may briefly answer [] while it is being replaced.
    center.page.wait_for_function(
        f"({listed})().then(list => JSON.stringify(list) === JSON.stringify([{{tag: '{item}', id: '{item}'}}]))")

    # Read on another device: the read event reaches this tab, which tells the worker to close it.
    assert center.page.context.request.post(f"{web_server.url}/api/notifications/{item}/read").ok
    center.expect_unread(0)
    center.page.wait_for_function(f"({listed})().then(list => list.length === 0)")
