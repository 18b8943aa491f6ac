"""Live delivery: a published notification reaches the open page as a badge, a toast and a list item."""
from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer


def test_live_notification_updates_badge_and_shows_toast(context: BrowserContext, web_server: HeraldServer,
                                                        user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.expect_unread(0)
    expect(center.toasts).to_have_count(0)

    send(web_server, user_id, "Your order shipped", body="Order #1042 is on its way", priority="high")

    expect(center.toast("Your order shipped")).to_contain_text("Order #1042 is on its way")
    center.expect_unread(1)
    center.open()
    expect(center.item("Your order shipped")).to_have_class(re.compile(r"\bunread\b"))
    expect(center.panel).to_contain_text("Live")


def test_titles_and_bodies_show_as_text_never_as_markup(context: BrowserContext, web_server: HeraldServer,
                                                       user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    title = '<img src=x onerror="window.__pwned = 1"><script>window.__pwned = 2</script>'
    body = "<b>bold?</b>"
    send(web_server, user_id, title, body=body)

    expect(center.toast("<script>")).to_contain_text(title)
    center.open()
    expect(center.item("<script>")).to_contain_text(body)
    expect(center.host.locator("img, script, b")).to_have_count(0)
    assert center.page.evaluate("window.__pwned") is None


def test_clicking_an_item_opens_its_url_and_marks_it_read(context: BrowserContext, web_server: HeraldServer,
                                                          user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    sent = send(web_server, user_id, "Invoice ready", url="/#invoice-77")
    center.expect_unread(1)
    center.open()
    with center.page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/click")) as clicked:
        center.item("Invoice ready").get_by_role("link").click()
    assert clicked.value.url.endswith(f"/api/notifications/{sent}/click")  # the backend hears `clicked`
    expect(center.page).to_have_url(re.compile(r"/#invoice-77$"))
    center.expect_unread(0)
