"""History: the dropdown pages back with `before`, filters by type, and does not toast the past."""
from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import sign_in
from tests.herald_server import HeraldServer


def test_history_pages_back_and_filters_by_type(context: BrowserContext, web_server: HeraldServer,
                                                user_id: str) -> None:
    for n in range(25):
        web_server.publish(to={"users": [user_id]}, type="order.shipped" if n % 2 == 0 else "comment",
                           title=f"Item {n:02d}")
    center = sign_in(context, web_server, user_id)
    center.expect_unread(25)
    # What happened before the page opened is history: no toasts for it.
    expect(center.toasts).to_have_count(0)

    center.open()
    expect(center.items).to_have_count(20)
    expect(center.items.first).to_contain_text("Item 24")
    older = center.host.get_by_role("button", name="Load older")
    older.click()
    expect(center.items).to_have_count(25)
    expect(center.items.last).to_contain_text("Item 00")
    expect(older).to_be_hidden()

    center.host.get_by_label("Show").select_option("order.shipped")
    expect(center.items).to_have_count(13)
    for text in center.items.all_inner_texts():
        assert int(text.split("Item ")[1][:2]) % 2 == 0
    center.host.get_by_label("Show").select_option("")
    expect(center.items).to_have_count(25)
