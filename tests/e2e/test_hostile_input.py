"""Hostile input in the browser: system notifications show text, and no credential ever travels in a URL.

The bell and the toasts are covered by ``test_live_delivery.py``, the admin console by
``test_admin.py``; here the operating system's notifications (raised for urgent and high items in
a hidden tab) get the same hostile title, and a whole session in Chromium is recorded request by
request to show that the session cookie never appears in a URL and that only cursors and paging do.
"""
from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from playwright.sync_api import BrowserContext, Request

from tests.e2e.center import recording_context, send, shown, sign_in
from tests.herald_server import HeraldServer

HOSTILE = '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=2</script>'
ALLOWED_QUERY = {"lastEventId", "since", "before", "limit", "cursor", "timeout"}


def test_system_notifications_show_a_hostile_title_as_text(new_context: Callable[..., BrowserContext],
                                                           web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    center.page.evaluate("window.__setHidden(true)")
    item = send(web_server, user_id, HOSTILE, priority="urgent", body=HOSTILE)
    center.page.wait_for_function("window.__shown.length >= 1")
    assert shown(center) == [{"title": HOSTILE, "tag": item}]
    assert center.page.evaluate("window.__pwned") is None
    center.page.evaluate("window.__setHidden(false)")
    center.open()
    assert center.host.locator("img, script").count() == 0


def test_a_whole_session_puts_no_credential_in_any_url(context: BrowserContext, web_server: HeraldServer,
                                                       user_id: str) -> None:
    urls: list[str] = []

    def record(request: Request) -> None:
        urls.append(request.url)

    context.on("request", record)
    center = sign_in(context, web_server, user_id)
    session = next(c["value"] for c in context.cookies() if c["name"] == "herald_session")
    titles = [f"Item {i}" for i in range(3)]
    for title in titles:
        send(web_server, user_id, title)
    center.expect_unread(3)
    center.open()
    center.item("Item 1").get_by_role("button", name="Mark read: Item 1").click()
    center.mark_all.click()
    center.expect_unread(0)
    center.page.reload()  # a fresh page resumes from its stored cursor
    center.expect_status("connected")
    context.set_offline(True)  # and the EventSource reconnects on its own
    center.expect_status("disconnected")
    context.set_offline(False)
    center.expect_status("connected", timeout=15000)
    send(web_server, user_id, "After the reconnect")
    center.expect_unread(1)

    api = [url for url in urls if urlsplit(url).path.startswith("/api/")]
    assert any("/api/notifications/stream" in url for url in api), api
    for url in urls:
        assert session not in url, f"the session cookie is in {url}"
        assert "eyJ" not in url, f"something token-shaped is in {url}"
        keys = {key for key, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}
        assert keys <= ALLOWED_QUERY, f"{url} carries {keys - ALLOWED_QUERY}"
