"""Preferences in real Chromium: quiet hours keep the tab and the push service silent, then one digest; the
panel turns a category's toasts and pushes off, never a critical one's; the panel passes axe-core."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import Center, recording_context, send, serious_violations, shown, sign_in
from tests.fake_push_service import FakePushService, FakeSubscription
from tests.herald_server import HeraldServer


def auth(server: HeraldServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user_id)}"}


def subscribed(server: HeraldServer, service: FakePushService, user_id: str) -> FakeSubscription:
    """A browser profile of the user's on the local push service (it decrypts what Herald sends)."""
    subscription = service.subscription()
    response = httpx.post(server.url + "/api/push/subscriptions", json=subscription.to_json(),
                          headers=auth(server, user_id))
    assert response.status_code == 201, response.text
    return subscription


def known(server: HeraldServer, **categories: dict[str, bool]) -> None:
    response = httpx.put(server.url + "/api/preferences/defaults", json={"categories": categories},
                         headers={"Authorization": f"Bearer {server.api_key}"})
    assert response.status_code == 200, response.text


def open_preferences(center: Center) -> None:
    center.open()
    with center.page.expect_response("**/api/preferences"):
        center.host.get_by_role("button", name="Preferences").click()
    expect(center.host.get_by_role("heading", name="Preferences")).to_be_visible()


def test_quiet_hours_raise_nothing_then_one_digest_push(new_context: Callable[..., BrowserContext],
                                                        web_server: HeraldServer, push_service: FakePushService,
                                                        user_id: str) -> None:
    center = sign_in(recording_context(new_context, web_server, granted=True), web_server, user_id)
    browser = subscribed(web_server, push_service, user_id)
    center.page.evaluate("window.__setHidden(true)")
    until = datetime.now(timezone.utc) + timedelta(seconds=4)
    assert httpx.put(web_server.url + "/api/preferences", json={"dndUntil": until.isoformat()},
                     headers=auth(web_server, user_id)).status_code == 200
    for n in range(3):
        send(web_server, user_id, f"Deploy {n} finished", priority="high", type="deploy.done")
    center.expect_unread(3)  # in the inbox and live, silently
    while datetime.now(timezone.utc) < until - timedelta(seconds=0.5):
        assert shown(center) == [] and center.toasts.count() == 0
        assert push_service.of(browser) == []
        center.page.wait_for_timeout(100)
    # Then one digest push (the sweep runs every 5 s here), not three.
    (digest,) = push_service.wait(browser, 1, timeout=15)
    assert digest.message["notification"]["title"] == "3 notifications while you were away"
    time.sleep(1)
    assert len(push_service.of(browser)) == 1
    # Quiet hours over: the next high item alerts again.
    send(web_server, user_id, "Deploy 4 finished", priority="high", type="deploy.done")
    center.page.wait_for_function("window.__shown.length === 1")


def test_the_panel_turns_a_categorys_toasts_and_pushes_off_but_never_a_critical_one(
        context: BrowserContext, web_server: HeraldServer, push_service: FakePushService, user_id: str) -> None:
    promo, alarm = f"promo{secrets.token_hex(3)}", f"alarm{secrets.token_hex(3)}"
    known(web_server, **{promo: {}, alarm: {"critical": True}})
    center = sign_in(context, web_server, user_id)
    open_preferences(center)
    promo_box = center.host.locator("fieldset", has_text=promo)
    alarm_box = center.host.locator("fieldset", has_text=f"{alarm} (always on)")
    expect(alarm_box.get_by_role("checkbox", name="In-app")).to_be_disabled()
    expect(alarm_box.get_by_role("checkbox", name="In-app")).to_be_checked()
    for name in ("In-app", "Push"):
        with center.page.expect_response(lambda r: r.request.method == "PUT" and r.url.endswith("/api/preferences")):
            promo_box.get_by_role("checkbox", name=name).uncheck()
    send(web_server, user_id, "Spring sale", type="sale", category=promo)
    send(web_server, user_id, "New sign-in", type="login", category=alarm)
    center.expect_unread(2)
    expect(center.toast("New sign-in")).to_be_visible()
    expect(center.toast("Spring sale")).to_have_count(0)
    expect(center.item("Spring sale")).to_be_visible()
    # The choice is the server's: it holds after a reload, and for pushes with no tab open.
    center.page.reload()
    open_preferences(center)
    expect(center.host.locator("fieldset", has_text=promo).get_by_role("checkbox", name="Push")).not_to_be_checked()
    center.page.close()
    browser = subscribed(web_server, push_service, user_id)
    send(web_server, user_id, "Summer sale", type="sale", category=promo, priority="high")
    send(web_server, user_id, "Password changed", type="login", category=alarm, priority="high")
    (pushed,) = push_service.wait(browser, 1)
    time.sleep(1)
    assert [p.message["notification"]["title"] for p in push_service.of(browser)] == ["Password changed"]
    assert pushed.message["notification"]["title"] == "Password changed"


def test_the_preferences_panel_has_no_serious_violations(context: BrowserContext, web_server: HeraldServer,
                                                        user_id: str) -> None:
    known(web_server, **{f"orders{secrets.token_hex(2)}": {}, f"security{secrets.token_hex(2)}": {"critical": True}})
    center = sign_in(context, web_server, user_id)
    open_preferences(center)
    center.host.get_by_role("button", name="Pause 1 hour").click()
    expect(center.host.get_by_text("Quiet until")).to_be_visible()
    assert serious_violations(center, web_server) == []


def test_a_visible_tab_keeps_the_users_hidden_tabs_from_raising_system_notifications(
        new_context: Callable[..., BrowserContext], web_server: HeraldServer, user_id: str) -> None:
    context = recording_context(new_context, web_server, granted=True)
    hidden = sign_in(context, web_server, user_id)
    looking = Center(context.new_page())
    looking.page.goto(web_server.url + "/")
    looking.expect_status("connected")

    def hide(center: Center) -> None:
        with center.page.expect_response(lambda r: r.url.endswith("/api/presence") and "false" in
                                         (r.request.post_data or "")):
            center.page.evaluate("window.__setHidden(true)")

    hide(hidden)
    looking.page.wait_for_timeout(300)  # its own "visible" report went out at start; let it land
    send(web_server, user_id, "Build broke", priority="high")
    hidden.expect_unread(1)
    looking.expect_unread(1)
    hidden.page.wait_for_timeout(300)
    assert shown(hidden) == [] and shown(looking) == []
    # Nobody looking any more: the next one alerts in a hidden tab.
    hide(looking)
    send(web_server, user_id, "Build fixed", priority="high")
    hidden.page.wait_for_function("window.__shown.length === 1")
    assert shown(hidden)[0]["title"] == "Build fixed"
