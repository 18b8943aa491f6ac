"""Drops: offline and back, or a server restart mid-session; everything arrives, exactly once."""
from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import BrowserContext, Route, expect

from tests.e2e.center import Center, keep_toasts, send, sign_in
from tests.herald_server import HeraldServer


def expect_each_once(center: Center, titles: list[str]) -> None:
    """A live sentinel first: once it shows, the catch-up and any replay before it are done."""
    center.open()
    for title in titles:
        expect(center.item(title)).to_have_count(1)
        expect(center.toast(title)).to_have_count(1)


def test_offline_then_online_shows_everything_published_meanwhile_once(context: BrowserContext,
                                                                       web_server: HeraldServer,
                                                                       user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    keep_toasts(center)
    send(web_server, user_id, "Before the drop")
    read_elsewhere = send(web_server, user_id, "Read on the phone meanwhile")
    center.expect_unread(2)

    context.set_offline(True)
    center.expect_status("disconnected")
    expect(center.host.locator(".conn")).to_have_text("Offline")
    missed = ["Missed urgent", "Missed medium", "Missed low"]
    for title, priority in zip(missed, ("urgent", "medium", "low")):
        send(web_server, user_id, title, priority=priority)
    # Another device reads an item: read events are live only, so only the catch-up can tell.
    phone = httpx.post(f"{web_server.url}/api/notifications/{read_elsewhere}/read",
                       headers={"Authorization": f"Bearer {web_server.token(user_id)}"})
    assert phone.status_code == 200
    context.set_offline(False)

    center.expect_status("connected")
    send(web_server, user_id, "Sentinel")
    center.expect_unread(5)
    expect_each_once(center, ["Before the drop", *missed, "Sentinel"])
    expect(center.items).to_have_count(6)
    expect(center.item("Read on the phone meanwhile")).not_to_have_class(re.compile(r"\bunread\b"))
    expect(center.toast("Read on the phone meanwhile")).to_have_count(0)
    center.expect_unread(5)


def test_server_restart_reconnects_and_catches_up(context: BrowserContext, private_server: HeraldServer,
                                                  user_id: str) -> None:
    center = sign_in(context, private_server, user_id)
    keep_toasts(center)
    send(private_server, user_id, "Before the restart")
    center.expect_unread(1)

    private_server.stop()
    center.expect_status("reconnecting")
    expect(center.host.locator(".conn")).to_have_text("Reconnecting…")
    private_server.start()
    # Published before the page is back (it waits for the browser's retry or its backoff).
    send(private_server, user_id, "While it was down")

    center.expect_status("connected", timeout=20_000)
    send(private_server, user_id, "Sentinel")
    center.expect_unread(3)
    expect_each_once(center, ["Before the restart", "While it was down", "Sentinel"])
    expect(center.items).to_have_count(3)
    center.expect_unread(3)


def test_a_failed_stream_is_retried_after_a_backoff(context: BrowserContext, web_server: HeraldServer,
                                                    user_id: str) -> None:
    # A proxy in front of Herald answering 503 once: one failure is a retry, not yet a reason to poll.
    attempts: list[float] = []

    def flaky_proxy(route: Route) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    context.route("**/api/notifications/stream*", flaky_proxy)
    context.request.post(web_server.url + "/api/demo/login", data={"userId": user_id})
    page = context.new_page()
    page.goto(web_server.url + "/")
    center = Center(page)
    center.expect_status("connected", timeout=15_000)
    assert len(attempts) == 2 and attempts[1] - attempts[0] >= 0.5  # within [c/2, c], c = 1 s
    assert page.evaluate("document.querySelector('herald-bell').client.transport") == "sse"
    send(web_server, user_id, "Streamed after one failure")
    center.expect_unread(1)


def test_an_unavailable_server_is_retried_with_growing_backoff(context: BrowserContext, web_server: HeraldServer,
                                                               user_id: str) -> None:
    # Every connection starts with a REST catch-up; a server answering 503 to it (restarting,
    # overloaded) is retried with exponential backoff and jitter, so tabs do not all come back at once.
    attempts: list[float] = []

    def flaky_proxy(route: Route) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 3:
            route.fulfill(status=503, body="busy")
        else:
            route.continue_()

    context.route(re.compile(r".*/api/notifications\?.*"), flaky_proxy)
    context.request.post(web_server.url + "/api/demo/login", data={"userId": user_id})
    page = context.new_page()
    page.goto(web_server.url + "/")
    center = Center(page)
    center.expect_status("reconnecting")
    send(web_server, user_id, "Sent while the proxy was failing")

    center.expect_status("connected", timeout=20_000)
    gaps = [later - earlier for earlier, later in zip(attempts[:4], attempts[1:4])]
    # Each wait within [ceiling / 2, ceiling], the ceiling doubling from 1 s.
    assert len(gaps) == 3 and 0.5 <= gaps[0] and 1.0 <= gaps[1] and 2.0 <= gaps[2], gaps
    # Failures before any stream opened say nothing about streaming: it still streams.
    assert page.evaluate("document.querySelector('herald-bell').client.transport") == "sse"
    center.expect_unread(1)
    center.open()
    expect(center.item("Sent while the proxy was failing")).to_have_count(1)
