"""Languages in real Chromium: the element's ``lang`` picks the table, Intl counts and dates, Arabic mirrors the layout."""
from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, keep_toasts, send, sign_in
from tests.herald_server import HeraldServer


def speak(center: Center, lang: str) -> None:
    center.host.evaluate("(el, lang) => el.setAttribute('lang', lang)", lang)


def intl(center: Center, expression: str) -> str:
    return center.page.evaluate(expression)


def test_arabic_bell_is_right_to_left_translated_and_counts_with_arabic_plurals(context: BrowserContext,
                                                                                web_server: HeraldServer,
                                                                                user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    speak(center, "ar")
    keep_toasts(center)
    for actor in ("Anna", "Ben", "Chloé"):
        send(web_server, user_id, f"{actor} liked your post", type="post.liked", groupKey="p:2", actor=actor)
    send(web_server, user_id, "Database down", priority="urgent")
    two = intl(center, "new Intl.NumberFormat('ar').format(2)")
    expect(center.badge).to_have_text(two)
    expect(center.host.locator(".bell")).to_have_accessible_name("الإشعارات، إشعاران غير مقروءين")  # "two": dual form
    center.host.locator(".bell").click()
    expect(center.panel).to_be_visible()
    expect(center.panel.locator("h2")).to_have_text("الإشعارات")
    expect(center.host.get_by_role("button", name="تعليم الكل كمقروء")).to_be_visible()
    # Two others: Arabic's dual, picked by Intl.PluralRules.
    expect(center.item("Database down").locator("time")).to_have_text(intl(
        center, "new Intl.RelativeTimeFormat('ar', { numeric: 'auto' }).format(0, 'second')"))
    expect(center.items.filter(has_text="شخصان آخران")).to_have_count(1)

    for node in (center.panel, center.host.locator(".toasts")):
        assert node.evaluate("el => getComputedStyle(el).direction") == "rtl"
    # Mirrored: the panel hangs from the element's left edge, an urgent row and toast carry their bar on the right.
    host, panel = center.host.bounding_box(), center.panel.bounding_box()
    assert host and panel and abs(panel["x"] - host["x"]) < 2, (host, panel)
    urgent = center.item("Database down")
    assert urgent.evaluate("el => getComputedStyle(el).borderRightWidth") == "4px"
    assert urgent.evaluate("el => getComputedStyle(el).borderLeftWidth") == "0px"
    toast = center.toast("Database down")
    assert toast.evaluate("el => getComputedStyle(el).borderRightWidth") == "4px"
    page_width = center.page.viewport_size["width"]  # type: ignore[index]
    box = toast.bounding_box()
    assert box and box["x"] < page_width / 2, "toasts stack at the inline end: the left, in Arabic"


def test_german_bell_uses_the_german_table_and_intl_dates(context: BrowserContext, web_server: HeraldServer,
                                                          user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    speak(center, "de")
    send(web_server, user_id, "Neu")
    expect(center.host.locator(".bell")).to_have_accessible_name("Benachrichtigungen, 1 ungelesen")
    center.host.locator(".bell").click()
    expect(center.host.get_by_role("button", name="Alle als gelesen markieren")).to_be_visible()
    expect(center.item("Neu").get_by_role("button", name="Als gelesen markieren: Neu")).to_be_visible()
    when = center.item("Neu").locator("time")
    expect(when).to_have_text("jetzt")
    stamp = when.evaluate("el => Date.parse(el.dateTime)")
    expect(when).to_have_attribute("title", intl(
        center, f"new Intl.DateTimeFormat('de', {{ dateStyle: 'medium', timeStyle: 'short' }}).format({stamp})"))
    assert center.panel.evaluate("el => getComputedStyle(el).direction") == "ltr"
    # Back to English when the page says so: the language follows the attribute.
    speak(center, "en")
    expect(center.mark_all).to_be_visible()


def test_a_language_not_shipped_falls_back_to_english(context: BrowserContext, web_server: HeraldServer,
                                                      user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    speak(center, "xx-YY")
    send(web_server, user_id, "Hello")
    center.expect_unread(1)
    center.open()
    expect(center.mark_all).to_be_visible()
