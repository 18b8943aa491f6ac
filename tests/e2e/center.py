"""The notification center as a user sees it on the demo page: a small page object for the e2e tests.

Locators go through the element's open shadow root (Playwright's CSS and role
locators pierce it), and prefer roles and accessible names, as a user or a
screen reader would find things.
"""
from __future__ import annotations

import re
from typing import Any, Callable

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


# Headless Chromium has no real "hidden" tab and no permission prompt, so the
# page gets a switchable visibilityState, and every way of raising a system
# notification (the constructor and the service worker's) is recorded while
# still being called for real.
RECORDER = """
(() => {
  let hidden = false;
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event('visibilitychange')); };
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => hidden ? 'hidden' : 'visible' });
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => hidden });
  window.__shown = [];
  window.__asks = 0;
  const Real = window.Notification;
  class Recorded extends Real {
    constructor(title, options = {}) {
      window.__shown.push({ title, tag: options.tag });
      super(title, options);
    }
    static get permission() { return window.__answer ?? Real.permission; }
    static requestPermission() {
      window.__asks += 1;
      // What the user answers to the prompt that headless Chromium cannot show.
      window.__answer = 'granted';
      return Promise.resolve('granted');
    }
  }
  window.Notification = Recorded;
  const show = ServiceWorkerRegistration.prototype.showNotification;
  ServiceWorkerRegistration.prototype.showNotification = function (title, options = {}) {
    window.__shown.push({ title, tag: options.tag });
    return show.call(this, title, options);
  };
})();
"""


def recording_context(new_context: Callable[..., BrowserContext], server: HeraldServer, *, granted: bool) -> BrowserContext:
    context = new_context()
    if granted:
        context.grant_permissions(["notifications"], origin=server.url)
    context.add_init_script(RECORDER)
    return context


def shown(center: Center) -> list[dict[str, Any]]:
    return center.page.evaluate("window.__shown")


def wait_for_transport(page: Page, transport: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "(t) => { const c = document.querySelector('herald-bell').client; return c?.transport === t && c.status === 'connected'; }",
        arg=transport, timeout=timeout)


def use_transport(page: Page, transport: str) -> None:
    """The element reads ``transport`` when it connects, as a page would set it in its markup."""
    page.evaluate("""(transport) => {
        const bell = document.querySelector('herald-bell'), parent = bell.parentNode;
        bell.remove();
        bell.setAttribute('transport', transport);
        parent.append(bell);
    }""", transport)


def keep_toasts(center: Center) -> None:
    """Room for every toast, and time: each toast is counted at the end."""
    center.host.evaluate("el => { el.setAttribute('max-toasts', '10'); el.setAttribute('toast-duration', '600000') }")


# axe-core, vendored from npm (web/vendor/axe.min.js), run in the page as the accessibility tests run it.
SCAN = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                         targets: v.nodes.map((n) => n.target) }));
}"""


def serious_violations(center: Center, server: HeraldServer) -> list[dict[str, object]]:
    center.page.add_script_tag(url=server.url + "/static/vendor/axe.min.js")
    violations = center.page.evaluate(SCAN)
    return [v for v in violations if v["impact"] in ("serious", "critical")]
