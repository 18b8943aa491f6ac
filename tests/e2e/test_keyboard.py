"""The bell and its dropdown work with the keyboard alone, and focus goes where a user expects."""
from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer


def test_keyboard_only_use_of_the_bell_and_dropdown(context: BrowserContext, web_server: HeraldServer,
                                                    user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Older item")
    send(web_server, user_id, "Newer item", url="/#newer")
    center.expect_unread(2)
    keyboard = center.page.keyboard
    first = center.item("Newer item").get_by_role("link")
    second = center.item("Older item").locator(".open")

    keyboard.press("Tab")  # the bell is the first stop on the demo page
    expect(center.bell).to_be_focused()
    keyboard.press("Enter")
    expect(center.panel).to_be_visible()
    expect(center.bell).to_have_attribute("aria-expanded", "true")
    expect(first).to_be_focused()

    keyboard.press("ArrowDown")
    expect(second).to_be_focused()
    keyboard.press("ArrowUp")
    expect(first).to_be_focused()
    keyboard.press("End")
    expect(second).to_be_focused()

    keyboard.press("Tab")
    expect(center.item("Older item").get_by_role("button", name="Mark read: Older item")).to_be_focused()
    keyboard.press("Enter")
    center.expect_unread(1)
    # The button is gone with the unread state; focus stays on the same row.
    expect(second).to_be_focused()

    keyboard.press("Home")
    expect(first).to_be_focused()
    keyboard.press("Shift+Tab")
    expect(center.mark_all).to_be_focused()
    keyboard.press("Space")
    center.expect_unread(0)

    keyboard.press("Escape")
    expect(center.panel).to_be_hidden()
    expect(center.bell).to_be_focused()
    expect(center.bell).to_have_attribute("aria-expanded", "false")

    keyboard.press("Space")
    expect(center.panel).to_be_visible()
    keyboard.press("Enter")  # on the first item: follows its link
    expect(center.page).to_have_url(re.compile(r"/#newer$"))
