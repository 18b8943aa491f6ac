"""The notification center as a user sees it on the demo page: a small page object for the e2e tests.

Locators go through the element's open shadow root (Playwright's CSS and role
locators pierce it), and prefer roles and accessible names, as a user or a
screen reader would find things.
"""
from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Locator, Page, expect

from tests.herald_server import HeraldServer


class Center:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.host = page.locator("herald-bell")
        self.bell = page.get_by_role("button", name=re.compile(r"^Notifications, "))
        self.badge = self.host.locator(".badge")
        self.panel = self.host.locator(".panel")
        self.items = self.host.locator(".list > li")
        self.unread_items = self.host.locator(".list > li.unread")
        self.toasts = self.host.locator(".toast")
        self.mark_all = self.host.get_by_role("button", name="Mark all read")

    def item(self, title: str) -> Locator:
        return self.items.filter(has_text=title)

    def toast(self, title: str) -> Locator:
        return self.toasts.filter(has_text=title)

    def open(self) -> None:
        if self.panel.is_hidden():
            self.bell.click()
        expect(self.panel).to_be_visible()

    def expect_status(self, status: str, timeout: float = 5000) -> None:
        expect(self.host).to_have_attribute("data-status", status, timeout=timeout)

    def expect_unread(self, count: int, timeout: float = 5000) -> None:
        """The badge and the bell's accessible name agree on the count."""
        if count:
            expect(self.badge).to_have_text(str(count), timeout=timeout)
        else:
            expect(self.badge).to_be_hidden(timeout=timeout)
        expect(self.bell).to_have_accessible_name(
            f"Notifications, {count} unread" if count else "Notifications, no unread", timeout=timeout)


def sign_in(context: BrowserContext, server: HeraldServer, user_id: str) -> Center:
    """Sign the context in as a demo user (session cookie) and open the demo page, connected."""
    response = context.request.post(server.url + "/api/demo/login", data={"userId": user_id})
    assert response.ok, response.text()
    page = context.new_page()
    page.goto(server.url + "/")
    center = Center(page)
    center.expect_status("connected")
    return center


def send(server: HeraldServer, user_id: str, title: str, **fields: object) -> str:
    """Publish to one user as the product backend would; returns the notification id."""
    fields.setdefault("type", "test")
    return str(server.publish(to={"users": [user_id]}, title=title, **fields)["id"])
