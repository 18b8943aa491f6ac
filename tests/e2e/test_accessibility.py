"""An axe-core scan (vendored, served by Herald itself) of the open notification center."""
from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, send, sign_in
from tests.herald_server import HeraldServer

SCAN = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                                         targets: v.nodes.map((n) => n.target) }));
}"""


def serious_violations(center: Center, server: HeraldServer) -> list[dict[str, object]]:
    center.page.add_script_tag(url=server.url + "/static/vendor/axe.min.js")
    violations = center.page.evaluate(SCAN)
    return [v for v in violations if v["impact"] in ("serious", "critical")]


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
