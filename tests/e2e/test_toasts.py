"""Toasts follow priority: urgent stays, the others leave, at most three show, urgent first."""
from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, send, sign_in
from tests.herald_server import HeraldServer


def dismiss(center: Center, title: str) -> None:
    center.toast(title).get_by_role("button", name=f"Dismiss: {title}").click()
    expect(center.toast(title)).to_have_count(0)


def test_urgent_toast_stays_until_dismissed_while_others_leave(context: BrowserContext, web_server: HeraldServer,
                                                               user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.host.evaluate("el => el.setAttribute('toast-duration', '800')")
    send(web_server, user_id, "Disk almost full", priority="urgent")
    send(web_server, user_id, "New comment", priority="medium")
    send(web_server, user_id, "Digest ready", priority="low")
    expect(center.toast("New comment")).to_be_visible()

    # Both others leave on their own; by then the urgent one has outlived their delay...
    expect(center.toast("New comment")).to_have_count(0)
    expect(center.toast("Digest ready")).to_have_count(0)
    # ...and is still on screen until the user dismisses it.
    expect(center.toast("Disk almost full")).to_be_visible()
    dismiss(center, "Disk almost full")
    # Dismissing a toast is not reading the item.
    center.expect_unread(3)


def test_at_most_three_toasts_show_and_the_queue_lets_urgent_first(context: BrowserContext, web_server: HeraldServer,
                                                                   user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    for n in (1, 2, 3):
        send(web_server, user_id, f"Urgent {n}", priority="urgent")
    center.expect_unread(3)
    expect(center.toasts).to_have_count(3)

    # Queued in this order while the three urgent ones hold the screen.
    send(web_server, user_id, "Low one", priority="low")
    center.expect_unread(4)
    send(web_server, user_id, "High one", priority="high")
    center.expect_unread(5)
    send(web_server, user_id, "Urgent 4", priority="urgent")
    center.expect_unread(6)
    expect(center.toasts).to_have_count(3)
    for queued in ("Low one", "High one", "Urgent 4"):
        expect(center.toast(queued)).to_have_count(0)

    dismiss(center, "Urgent 1")
    expect(center.toast("Urgent 4")).to_be_visible()
    expect(center.toast("High one")).to_have_count(0)
    dismiss(center, "Urgent 2")
    expect(center.toast("High one")).to_be_visible()
    expect(center.toast("Low one")).to_have_count(0)
    dismiss(center, "Urgent 3")
    expect(center.toast("Low one")).to_be_visible()
    expect(center.toasts).to_have_count(3)


def test_a_more_urgent_toast_takes_the_place_of_the_least_urgent(context: BrowserContext, web_server: HeraldServer,
                                                                 user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.host.evaluate("el => el.setAttribute('toast-duration', '600000')")
    for title, priority in (("Digest", "low"), ("Comment 1", "medium"), ("Comment 2", "medium")):
        send(web_server, user_id, title, priority=priority)
    expect(center.toasts).to_have_count(3)

    send(web_server, user_id, "Outage", priority="urgent")
    expect(center.toast("Outage")).to_be_visible()
    expect(center.toast("Digest")).to_have_count(0)
    send(web_server, user_id, "Deploy failed", priority="high")
    expect(center.toast("Deploy failed")).to_be_visible()
    # Of the two mediums, the older one made room.
    expect(center.toast("Comment 1")).to_have_count(0)
    expect(center.toasts).to_have_count(3)
    expect(center.toast("Comment 2")).to_be_visible()
    # Urgent is on top, whatever the arrival order.
    tops = [center.toast(title).bounding_box()["y"] for title in ("Outage", "Deploy failed", "Comment 2")]
    assert tops == sorted(tops), tops


def test_reading_an_item_elsewhere_removes_its_toast(context: BrowserContext, web_server: HeraldServer,
                                                     user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    item_id = send(web_server, user_id, "Server on fire", priority="urgent")
    expect(center.toast("Server on fire")).to_be_visible()
    # Read through the API, as another device would.
    response = context.request.post(f"{web_server.url}/api/notifications/{item_id}/read")
    assert response.ok
    expect(center.toast("Server on fire")).to_have_count(0)
    center.expect_unread(0)


def test_toasts_move_only_when_motion_is_welcome(context: BrowserContext, web_server: HeraldServer,
                                                 user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Hello", priority="urgent")
    toast = center.toast("Hello")
    expect(toast).to_be_visible()
    animation = "el => getComputedStyle(el).animationName"
    center.page.emulate_media(reduced_motion="no-preference")
    assert toast.evaluate(animation) == "herald-in"
    center.page.emulate_media(reduced_motion="reduce")
    assert toast.evaluate(animation) == "none"
