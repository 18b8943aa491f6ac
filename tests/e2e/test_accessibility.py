"""An axe-core scan (vendored, served by Herald itself) of the open notification center, light, dark and right to left."""
from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, send, serious_violations, sign_in
from tests.herald_server import HeraldServer

def fill_center(center: Center, server: HeraldServer, user_id: str) -> None:
    """Every kind of row and a toast of each priority: read, grouped and expanded, linked, rich, urgent."""
    send(server, user_id, "Read already", type="digest")
    for actor in ("Anna", "Ben", "Chloé"):
        send(server, user_id, f"{actor} liked your post", type="post.liked", groupKey="p:1", actor=actor)
    send(server, user_id, "Your order shipped", type="order.shipped", priority="high", url="/#order",
         body="Order **#1042** is on its way: `TRK-9`, [track it](https://carrier.example/t)")
    send(server, user_id, "Database primary is down", type="incident", priority="urgent")
    expect(center.badge).to_have_text("4")
    center.host.locator(".bell").click()
    expect(center.panel).to_be_visible()
    center.item("Read already").locator(".read").click()
    center.item("liked your post").locator(".expand").click()
    expect(center.host.locator(".members")).to_be_visible()
    expect(center.toasts).to_have_count(3)


def test_open_notification_center_has_no_serious_or_critical_violations(context: BrowserContext,
                                                                         web_server: HeraldServer,
                                                                         user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Read already", type="digest")
    for actor in ("Anna", "Ben", "Chloé"):
        send(web_server, user_id, f"{actor} liked your post", type="post.liked", groupKey="p:1", actor=actor)
    send(web_server, user_id, "Your order shipped", type="order.shipped", priority="high", url="/#order",
         body="Order #1042 is on its way")
    send(web_server, user_id, "Database primary is down", type="incident", priority="urgent")
    center.expect_unread(4)
    center.open()
    center.item("Read already").get_by_role("button", name="Mark read: Read already").click()
    center.item("Chloé and 2 others").get_by_role("button", name="Show who: Chloé and 2 others liked your post").click()
    expect(center.toasts).to_have_count(3)

    assert serious_violations(center, web_server) == []


@pytest.mark.parametrize(("scheme", "lang"), [("dark", "en"), ("light", "ar"), ("dark", "ar")])
def test_center_is_axe_clean_in_dark_and_right_to_left(context: BrowserContext, web_server: HeraldServer,
                                                       user_id: str, scheme: str, lang: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.page.emulate_media(color_scheme=scheme)
    center.host.evaluate("(el, lang) => el.setAttribute('lang', lang)", lang)
    fill_center(center, web_server, user_id)
    background = center.panel.evaluate("el => getComputedStyle(el).backgroundColor")
    # The dark scheme applies: the panel's own background turns dark (and light stays white).
    assert background == ("rgb(31, 31, 35)" if scheme == "dark" else "rgb(255, 255, 255)"), background
    assert serious_violations(center, web_server) == []


def test_the_page_s_custom_properties_win_over_the_dark_defaults(context: BrowserContext, web_server: HeraldServer,
                                                                 user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.page.emulate_media(color_scheme="dark")
    center.host.evaluate("el => el.style.setProperty('--herald-bg', 'rgb(0, 0, 80)')")
    center.open()
    expect(center.panel).to_have_css("background-color", "rgb(0, 0, 80)")


def test_triage_views_have_no_serious_or_critical_violations(context: BrowserContext, web_server: HeraldServer,
                                                            user_id: str) -> None:
    """Tabs with counts, action buttons, the item menu, the archive view and its empty state."""
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Approve the refund?", type="order.refund", category="orders",
         actions=[{"id": "ok", "label": "Approve", "style": "primary"}, {"id": "no", "label": "Reject"}])
    send(web_server, user_id, "Filed away", type="chat", category="team")
    center.expect_unread(2)
    center.open()
    expect(center.host.locator(".tabs button", has_text="orders")).to_be_visible()
    assert serious_violations(center, web_server) == []
    center.host.locator(".tabs button", has_text="Archive").click()
    expect(center.host.locator(".empty")).to_have_text("Nothing archived.")
    assert serious_violations(center, web_server) == []
    center.host.locator(".tabs button", has_text="All").click()
    center.item("Filed away").get_by_role("button", name="Archive: Filed away").click()
    center.host.locator(".tabs button", has_text="Archive").click()
    expect(center.items).to_have_count(1)
    assert serious_violations(center, web_server) == []


def test_bell_label_carries_the_count_and_toasts_are_announced(context: BrowserContext, web_server: HeraldServer,
                                                              user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Ping", priority="urgent")
    center.expect_unread(1)
    assert center.bell.evaluate("el => el.tagName") == "BUTTON"
    region = center.host.locator("[aria-live]")
    expect(region).to_have_attribute("aria-live", "polite")
    expect(region.locator(".toast")).to_contain_text("Urgent: Ping")
