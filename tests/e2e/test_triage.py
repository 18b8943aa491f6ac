"""Triage in the center: archive, mark unread, snooze and actions sync to the user's other browser within a second,
survive a reload, show in the tabs' counts, and work from the keyboard alone."""
from __future__ import annotations

import re
from typing import Callable

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, send, sign_in
from tests.herald_server import HeraldServer

SECOND_MS = 1000
TABS = '[{"label":"Orders","types":["order.*"]}]'


def with_tabs(center: Center) -> None:
    """The embedding page gives the tabs, as it would in its markup."""
    center.page.evaluate("""(tabs) => {
        const bell = document.querySelector('herald-bell'), parent = bell.parentNode;
        bell.remove();
        bell.setAttribute('tabs', tabs);
        parent.append(bell);
    }""", TABS)
    center.expect_status("connected")


def tab(center: Center, name: str):  # noqa: ANN201 - a Locator
    return center.host.locator(".tabs button", has_text=re.compile(rf"^{name}\b"))


def test_archive_unread_and_an_action_sync_to_the_other_browser_and_survive_a_reload(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    first = sign_in(new_context(), web_server, user_id)
    second = sign_in(new_context(), web_server, user_id)
    send(web_server, user_id, "Keep")
    send(web_server, user_id, "Invite", actions=[{"id": "yes", "label": "Accept", "style": "primary"}])
    send(web_server, user_id, "Old news")
    first.expect_unread(3)
    second.expect_unread(3)
    first.open()
    second.open()

    first.item("Old news").get_by_role("button", name="Archive: Old news").click()
    expect(second.item("Old news")).to_have_count(0, timeout=SECOND_MS)
    second.expect_unread(2, timeout=SECOND_MS)

    first.item("Keep").get_by_role("button", name="Mark read: Keep").click()
    second.expect_unread(1, timeout=SECOND_MS)
    second.item("Keep").get_by_role("button", name="Mark unread: Keep").click()
    first.expect_unread(2, timeout=SECOND_MS)
    expect(first.item("Keep")).to_have_class(re.compile(r"\bunread\b"), timeout=SECOND_MS)

    first.item("Invite").get_by_role("button", name="Accept: Invite").click()
    expect(second.item("Invite").get_by_role("button", name="Accept: Invite")).to_have_attribute(
        "aria-pressed", "true", timeout=SECOND_MS)
    second.expect_unread(1, timeout=SECOND_MS)

    second.page.reload()
    second.expect_status("connected")
    second.expect_unread(1)
    second.open()
    expect(second.items).to_have_count(2)
    expect(second.item("Keep")).to_have_class(re.compile(r"\bunread\b"))
    expect(second.item("Invite").get_by_role("button", name="Accept: Invite")).to_have_attribute("aria-pressed", "true")
    tab(second, "Archive").click()
    expect(second.items).to_have_count(1)
    expect(second.item("Old news")).to_be_visible()
    second.item("Old news").get_by_role("button", name="Unarchive: Old news").click()
    expect(first.item("Old news")).to_be_visible(timeout=SECOND_MS)


def test_an_action_clicked_in_a_toast_is_recorded_and_reaches_the_other_browser(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    first = sign_in(new_context(), web_server, user_id)
    second = sign_in(new_context(), web_server, user_id)
    send(web_server, user_id, "Deploy to production?", actions=[{"id": "go", "label": "Deploy", "style": "primary"},
                                                                {"id": "stop", "label": "Cancel"}])
    first.toast("Deploy to production?").get_by_role("button", name="Deploy: Deploy to production?").click()
    expect(first.toasts).to_have_count(0)
    second.expect_unread(0, timeout=SECOND_MS)
    second.open()
    expect(second.item("Deploy to production?").get_by_role("button", name="Deploy: Deploy to production?")
           ).to_have_attribute("aria-pressed", "true", timeout=SECOND_MS)


def test_a_short_snooze_leaves_both_browsers_and_comes_back_live_with_a_toast(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    first = sign_in(new_context(), web_server, user_id)
    second = sign_in(new_context(), web_server, user_id)
    item = send(web_server, user_id, "Later")
    send(web_server, user_id, "Now")
    first.open()
    second.open()
    first.item("Later").get_by_label("Snooze: Later").select_option("h")
    expect(second.item("Later")).to_have_count(0, timeout=SECOND_MS)
    second.expect_unread(1, timeout=SECOND_MS)
    second.page.reload()
    second.expect_status("connected")
    second.open()
    expect(second.item("Now")).to_be_visible()
    expect(second.item("Later")).to_have_count(0)
    # A snooze of two seconds instead of an hour: it returns as new, live, in both.
    first.page.evaluate("(id) => document.querySelector('herald-bell').client.triage(id, 'snooze', {until: Date.now() + 2000})",
                        item)
    expect(second.item("Later")).to_be_visible(timeout=6000)
    expect(second.toast("Later")).to_be_visible(timeout=SECOND_MS)
    expect(first.item("Later")).to_be_visible(timeout=SECOND_MS)
    second.expect_unread(2)
    first.page.reload()
    first.expect_status("connected")
    first.open()
    expect(first.item("Later")).to_be_visible()


def test_tabs_show_the_right_counts_after_each_change(new_context: Callable[..., BrowserContext],
                                                      web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(new_context(), web_server, user_id)
    with_tabs(center)
    send(web_server, user_id, "Paid", type="order.paid")
    send(web_server, user_id, "Shipped", type="order.shipped")
    send(web_server, user_id, "Hello", type="chat")
    center.expect_unread(3)
    center.open()
    expect(tab(center, "All")).to_have_text("All 3")
    expect(tab(center, "Orders")).to_have_text("Orders 2")
    tab(center, "Orders").click()
    expect(center.items).to_have_count(2)
    center.item("Paid").get_by_role("button", name="Mark read: Paid").click()
    expect(tab(center, "Orders")).to_have_text("Orders 1")
    center.item("Shipped").get_by_role("button", name="Archive: Shipped").click()
    expect(tab(center, "Orders")).to_have_text("Orders")
    expect(tab(center, "All")).to_have_text("All 1")
    send(web_server, user_id, "Refunded", type="order.refunded")
    expect(tab(center, "Orders")).to_have_text("Orders 1")
    expect(center.items).to_have_count(2)
    tab(center, "Archive").click()
    expect(center.items).to_have_count(1)
    tab(center, "All").click()
    center.host.get_by_role("button", name="Archive read").click()
    expect(center.items).to_have_count(2)  # Paid went to the archive; Refunded and Hello are unread
    expect(tab(center, "All")).to_have_text("All 2")


def test_keyboard_only_triage(new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(new_context(), web_server, user_id)
    send(web_server, user_id, "First")
    send(web_server, user_id, "Second")
    center.expect_unread(2)
    center.bell.focus()
    center.page.keyboard.press("Enter")
    expect(center.panel).to_be_visible()
    keys = center.page.keyboard
    expect(center.item("Second").locator(".open")).to_be_focused()
    keys.press("r")
    center.expect_unread(1)
    keys.press("u")
    center.expect_unread(2)
    keys.press("j")
    expect(center.item("First").locator(".open")).to_be_focused()
    keys.press("e")
    expect(center.item("First")).to_have_count(0)
    center.expect_unread(1)
    expect(center.item("Second").locator(".open")).to_be_focused()
    keys.press("s")
    expect(center.items).to_have_count(0)
    center.expect_unread(0)


def test_scrolling_to_the_end_loads_older_pages(context: BrowserContext, web_server: HeraldServer, user_id: str) -> None:
    for n in range(45):
        web_server.publish(to={"users": [user_id]}, type="t", title=f"Item {n:02d}")
    center = sign_in(context, web_server, user_id)
    center.open()
    expect(center.items).to_have_count(20)
    for count in (40, 45):
        center.host.locator(".older").scroll_into_view_if_needed()
        expect(center.items).to_have_count(count)
    expect(center.items.last).to_contain_text("Item 00")


def test_relative_times_move_on_while_the_list_is_open(context: BrowserContext, web_server: HeraldServer,
                                                       user_id: str) -> None:
    assert context.request.post(web_server.url + "/api/demo/login", data={"userId": user_id}).ok
    page = context.new_page()
    page.clock.install()  # the page's timers and Date follow this clock from the start
    page.goto(web_server.url + "/")
    center = Center(page)
    center.expect_status("connected")
    send(web_server, user_id, "Ticking")
    center.open()
    expect(center.item("Ticking").locator("time")).to_have_text("now")
    # No stream from here on: nothing but the list's own timer may re-render it.
    page.evaluate("document.querySelector('herald-bell').client.stop()")
    page.clock.fast_forward("03:10")
    expect(center.item("Ticking").locator("time")).to_have_text("3 minutes ago")
