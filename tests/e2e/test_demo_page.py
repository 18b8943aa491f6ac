"""The demo page: a newcomer signs in, sends one of each priority, and sees it all work."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.center import Center
from tests.herald_server import HeraldServer


def test_demo_page_signs_in_and_sends_each_priority(page: Page, web_server: HeraldServer, user_id: str) -> None:
    response = page.goto(web_server.url + "/")
    assert response is not None and response.status == 200
    center = Center(page)
    # Nobody is signed in yet: the bell says so instead of spinning.
    expect(page.locator("#who")).to_have_text("Not signed in: pick a demo user.")
    expect(center.host.locator(".conn")).to_have_text("Signed out")

    # The picker lists the demo users; any user id works, so make it this test's own.
    page.locator("#user").evaluate("(select, id) => select.add(new Option(id, id, true, true))", user_id)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_have_text(f"Signed in as {user_id}.")
    center.expect_status("connected")
    center.expect_unread(0)

    quick = page.get_by_role("group", name="Send one of each priority")
    for label in ("Urgent", "High", "Medium", "Low"):
        quick.get_by_role("button", name=label, exact=True).click()
        expect(page.locator("#sent")).to_have_text(f"Sent a {label.lower()} notification.")
    center.expect_unread(4)
    expect(center.toast("Database primary is down")).to_be_visible()

    page.get_by_role("button", name="5 likes (grouped)").click()
    center.expect_unread(5)
    center.open()
    expect(center.item("Eve and 4 others liked your post")).to_have_count(1)


def test_demo_form_sends_a_custom_notification(page: Page, web_server: HeraldServer, user_id: str) -> None:
    page.context.request.post(web_server.url + "/api/demo/login", data={"userId": user_id})
    page.goto(web_server.url + "/")
    center = Center(page)
    center.expect_status("connected")
    form = page.get_by_role("group", name="Or write one")
    form.get_by_label("Title").fill("Build 1234 failed")
    form.get_by_label("Body").fill("3 tests failed on main")
    form.get_by_label("Priority").select_option("high")
    form.get_by_label("Type").fill("ci.build")
    form.get_by_role("button", name="Send").click()
    expect(center.toast("Build 1234 failed")).to_contain_text("3 tests failed on main")
    center.expect_unread(1)
