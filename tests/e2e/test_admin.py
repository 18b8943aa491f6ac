"""The admin console in Chromium: sign in, send, confirm, revoke, CSRF, throttling, escaping, live updates."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.center import sign_in
from tests.herald_server import HeraldServer

PASSWORD = "correct horse battery staple"
HOSTILE = "<script>window.__pwned=1</script><b>x</b>"


@pytest.fixture(scope="module")
def admin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """A development server with two admins; its own, so the login throttle test cannot lock out others."""
    herald = HeraldServer(Path(tmp_path_factory.mktemp("herald-admin"))).start()
    for name in ("olga", "pete"):
        subprocess.run([sys.executable, "-m", "herald.cli", "admin", "create", name, "--password-stdin"],
                       input=PASSWORD + "\n", env=herald.env, check=True, capture_output=True, text=True)
    yield herald
    herald.stop()


def admin_page(context: BrowserContext, server: HeraldServer, username: str = "olga") -> Page:
    page = context.new_page()
    page.goto(server.url + "/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    return page


def compose(page: Page, server: HeraldServer, title: str, *, users: str | None = None, group: str | None = None,
            body: str = "", priority: str = "medium") -> None:
    page.goto(server.url + "/admin/send")
    if users is not None:
        page.get_by_label("Users", exact=True).check()
        page.get_by_label("User ids").fill(users)
    if group is not None:
        page.get_by_label("A group").check()
        page.get_by_label("Group name").fill(group)
    page.get_by_label("Priority").select_option(priority)
    page.get_by_label("Title").fill(title)
    page.get_by_label("Body").fill(body)


def test_send_to_a_user_arrives_in_their_browser(context: BrowserContext, browser: Browser,
                                                admin_server: HeraldServer, user_id: str) -> None:
    recipient_context = browser.new_context()
    try:
        center = sign_in(recipient_context, admin_server, user_id)
        page = admin_page(context, admin_server)
        compose(page, admin_server, "Deploy finished", users=user_id, body="Version 2.4 is live", priority="high")
        # The live preview (an htmx POST carrying the CSRF header) follows the typing.
        preview = page.locator("#preview .preview-toast")
        expect(preview).to_contain_text("Deploy finished")
        expect(preview).to_contain_text("Version 2.4 is live")
        expect(page.locator("#preview .preview-system")).to_contain_text("Deploy finished")

        page.get_by_role("button", name="Send…").click()
        expect(page.get_by_role("status")).to_have_text("Sent to 1 recipient.")
        expect(center.toast("Deploy finished")).to_contain_text("Version 2.4 is live")
        center.expect_unread(1)
        # The delivery panel updates itself: the recipient had the demo page open, and its client
        # acknowledged the item (a delivered receipt), then the recipient read it.
        expect(page.locator('#delivery [data-k="live"]')).to_have_text("1", timeout=15000)
        expect(page.locator('#delivery [data-k="sent"]')).to_have_text("1")
        expect(page.locator('#delivery [data-k="delivered"]')).to_have_text("1")
        expect(page.locator('#delivery [data-k="read"]')).to_have_text("0")
        center.open()
        center.item("Deploy finished").get_by_role("button", name="Mark read: Deploy finished").click()
        expect(page.locator('#delivery [data-k="read"]')).to_have_text("1")
        page.goto(admin_server.url + "/admin/notifications")
        row = page.locator("#rows tr", has_text="Deploy finished")
        # recipients, live, pushed, pending, sent, delivered, read
        expect(row.locator("td.num")).to_have_text(["1", "1", "0", "0", "1", "1", "1"])
    finally:
        recipient_context.close()


def test_send_to_a_group_asks_for_confirmation_with_the_count(context: BrowserContext,
                                                              admin_server: HeraldServer, user_id: str) -> None:
    members = [f"{user_id}-a", f"{user_id}-b"]
    group = f"oncall-{user_id}"
    assert httpx.put(f"{admin_server.url}/api/groups/{group}", json={"users": members},
                     headers=admin_server.headers()).is_success
    page = admin_page(context, admin_server)
    compose(page, admin_server, "Pager test", group=group)
    page.get_by_role("button", name="Send…").click()

    expect(page.get_by_role("heading", name="Confirm sending")).to_be_visible()
    expect(page.locator(".question")).to_contain_text(f"group {group}: 2 recipients")
    token = admin_server.token(members[0])
    inbox = lambda: httpx.get(admin_server.url + "/api/notifications",  # noqa: E731
                              headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert inbox() == []
    page.get_by_role("button", name="Send to 2 recipients").click()
    expect(page.get_by_role("status")).to_have_text("Sent to 2 recipients.")
    assert [item["title"] for item in inbox()] == ["Pager test"]


def test_revoking_an_api_key_refuses_publishing_with_it(context: BrowserContext, admin_server: HeraldServer,
                                                        user_id: str) -> None:
    page = admin_page(context, admin_server)
    page.goto(admin_server.url + "/admin/keys")
    page.get_by_label("Name").fill(f"crm-{user_id}")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    publish = lambda: httpx.post(admin_server.url + "/api/publish",  # noqa: E731
                                 headers={"Authorization": f"Bearer {key}"},
                                 json={"to": {"users": [user_id]}, "type": "t", "title": "via crm"})
    assert publish().status_code == 202

    page.get_by_role("button", name=f"Revoke crm-{user_id}").click()
    expect(page.locator("tr.revoked", has_text=f"crm-{user_id}")).to_contain_text("revoked")
    assert publish().status_code == 401


def test_a_form_with_a_wrong_csrf_token_is_refused(context: BrowserContext, admin_server: HeraldServer,
                                                   user_id: str) -> None:
    page = admin_page(context, admin_server)
    page.goto(admin_server.url + "/admin/keys")
    page.locator('form[action="/admin/keys"] input[name="_csrf_token"]').evaluate("input => input.value = 'forged'")
    page.get_by_label("Name").fill(f"forged-{user_id}")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Refused")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("security token")
    page.goto(admin_server.url + "/admin/keys")
    expect(page.get_by_text(f"forged-{user_id}")).to_have_count(0)


def test_sign_in_is_throttled_after_repeated_failures(context: BrowserContext, admin_server: HeraldServer) -> None:
    page = context.new_page()
    page.goto(admin_server.url + "/admin/login")
    for attempt in range(5):
        page.get_by_label("Username").fill("pete")
        page.get_by_label("Password").fill(f"wrong guess {attempt}")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins. Try again in")
    expect(page).to_have_url(re.compile(r"/admin/login$"))


def test_hostile_titles_show_as_text_everywhere(context: BrowserContext, browser: Browser,
                                                admin_server: HeraldServer, user_id: str) -> None:
    recipient_context = browser.new_context()
    try:
        center = sign_in(recipient_context, admin_server, user_id)
        page = admin_page(context, admin_server)
        page.goto(admin_server.url + "/admin/notifications")
        sent = admin_server.publish(to={"users": [user_id]}, type="t", title=HOSTILE, body=HOSTILE, priority="high")
        # The table picks the new row up by itself (htmx polling), as text.
        row = page.locator(f'tr[data-id="{sent["id"]}"]')
        expect(row.locator("td.title")).to_have_text(HOSTILE, timeout=15000)
        row.get_by_role("link").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(HOSTILE)
        expect(page.locator("dd.body")).to_have_text(HOSTILE)
        expect(page.locator("main b, main script")).to_have_count(0)
        assert page.evaluate("window.__pwned") is None
        # The support page of the recipient lists the item, as text too.
        page.goto(admin_server.url + "/admin/users?user=" + user_id)
        expect(page.locator(f'tr[data-item="{sent["id"]}"] td.title a')).to_have_text(HOSTILE)
        expect(page.locator("main b, main script")).to_have_count(0)
        assert page.evaluate("window.__pwned") is None

        compose(page, admin_server, HOSTILE, users=user_id, body=HOSTILE, priority="urgent")
        expect(page.locator("#preview .preview-toast .title")).to_have_text(HOSTILE)
        expect(page.locator("#preview .preview-system .title")).to_have_text(HOSTILE)
        expect(page.locator("#preview b, #preview script")).to_have_count(0)
        assert page.evaluate("window.__pwned") is None

        expect(center.toast("<script>")).to_contain_text(HOSTILE)
        assert center.page.evaluate("window.__pwned") is None
    finally:
        recipient_context.close()


def test_the_dashboard_shows_live_numbers(context: BrowserContext, admin_server: HeraldServer) -> None:
    page = admin_page(context, admin_server)
    for title in ("Connections now", "Notifications per minute", "Delivery latency", "Web Push per minute",
                  "Rate-limited requests"):
        expect(page.get_by_role("heading", name=title)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to Herald")).to_be_visible()
    page.goto(admin_server.url + "/admin/dashboard")
    expect(page).to_have_url(re.compile(r"/admin/login\?next=/admin/dashboard$"))


def test_a_send_at_time_schedules_it_and_the_scheduled_page_cancels_or_lets_it_arrive(
        context: BrowserContext, browser: Browser, admin_server: HeraldServer, user_id: str) -> None:
    from datetime import datetime, timedelta, timezone

    def utc_in(seconds: float) -> str:
        return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")

    page = admin_page(context, admin_server)
    compose(page, admin_server, "Cancel me", users=user_id)
    page.get_by_label("Send at").fill(utc_in(3600))
    page.get_by_role("button", name="Send…").click()
    expect(page).to_have_url(re.compile(r"/admin/scheduled\?scheduled=[0-9A-Z]{26}$"))
    row = page.locator("tr[data-scheduled]", has_text="Cancel me")
    expect(row).to_contain_text(f"users {user_id}")
    page.get_by_role("button", name="Cancel Cancel me").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled")
    expect(page.locator("tr[data-scheduled]", has_text="Cancel me")).to_have_count(0)

    recipient_context = browser.new_context()
    try:
        center = sign_in(recipient_context, admin_server, user_id)
        compose(page, admin_server, "On its time", users=user_id, body="scheduled from the console")
        page.get_by_label("Send at").fill(utc_in(6))
        page.get_by_role("button", name="Send…").click()
        expect(page.locator("tr[data-scheduled]", has_text="On its time")).to_have_count(1)
        expect(center.toast("On its time")).to_contain_text("scheduled from the console", timeout=15000)
        center.expect_unread(1)  # the cancelled one never came
    finally:
        recipient_context.close()
