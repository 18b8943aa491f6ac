"""Transports in Chromium: WebSocket mode with receipts, and long polling when streaming is blocked."""
from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocket, WebSocketRoute, expect

from tests.e2e.center import Center, keep_toasts, send, sign_in, use_transport, wait_for_transport
from tests.herald_server import HeraldServer


def client(page: Page, expression: str) -> Any:
    return page.evaluate(f"() => document.querySelector('herald-bell').client?.{expression}")


def receipts(server: HeraldServer, user_id: str) -> dict[str, bool]:
    return {item: at is not None for item, at in server.sql(
        "SELECT id, delivered_at FROM inbox_items WHERE user_id = :u", u=user_id)}


def eventually(page: Page, check: Any, timeout: float = 5.0) -> Any:
    """Poll ``check``, letting Playwright deliver the page's events meanwhile (a plain sleep would hold them)."""
    deadline = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    return value


def test_blocked_streaming_falls_back_to_long_polling_and_stays_live(
        context: BrowserContext, browser: Browser, web_server: HeraldServer, user_id: str) -> None:
    # A proxy that refuses streaming: every EventSource request fails, REST and polling pass.
    streams: list[str] = []
    context.route("**/api/notifications/stream*", lambda route: (streams.append(route.request.url), route.abort()))
    before = send(web_server, user_id, "Waiting before the page opened")
    center = sign_in(context, web_server, user_id)  # "connected": over long polling
    assert client(center.page, "transport") == "poll"
    assert len(streams) == 2  # two failed stream attempts, then polling
    keep_toasts(center)

    live = send(web_server, user_id, "Over long polling", priority="high")
    expect(center.toast("Over long polling")).to_have_count(1)
    center.expect_unread(2)
    # Receipts went over HTTP, for the item loaded with the page and the live one.
    assert eventually(center.page, lambda: receipts(web_server, user_id) == {before: True, live: True})

    # Read state follows both ways between the polling tab and a streaming one of the same user.
    other_context = browser.new_context()
    try:
        other = sign_in(other_context, web_server, user_id)
        other.expect_unread(2)
        center.open()
        center.item("Over long polling").get_by_role("button", name="Mark read: Over long polling").click()
        other.expect_unread(1)
        token = web_server.token(user_id)
        assert httpx.post(f"{web_server.url}/api/notifications/{before}/read",
                          headers={"Authorization": f"Bearer {token}"}).status_code == 200
        center.expect_unread(0)
        expect(center.item("Waiting before the page opened")).not_to_have_class(re.compile(r"\bunread\b"))
    finally:
        other_context.close()

    burst = [f"Burst {i}" for i in range(4)]
    for title in burst:
        send(web_server, user_id, title)
    center.expect_unread(4)
    for title in ["Waiting before the page opened", "Over long polling", *burst]:
        expect(center.item(title)).to_have_count(1)
    expect(center.items).to_have_count(6)
    assert client(center.page, "transport") == "poll"


def test_while_polling_the_stream_is_tried_again(context: BrowserContext, web_server: HeraldServer,
                                                 user_id: str) -> None:
    def proxy(route: Route) -> None:
        route.abort() if blocked else route.continue_()

    blocked = True
    context.route("**/api/notifications/stream*", proxy)
    context.request.post(web_server.url + "/api/demo/login", data={"userId": user_id})
    page = context.new_page()
    page.clock.install()
    page.goto(web_server.url + "/")
    wait_for_transport(page, "poll")
    center = Center(page)
    send(web_server, user_id, "While polling")
    center.expect_unread(1)

    blocked = False  # the proxy got fixed
    page.clock.fast_forward("01:01")  # past the minute after which polling tries the stream again
    wait_for_transport(page, "sse")
    send(web_server, user_id, "Streaming again")
    center.expect_unread(2)
    center.open()
    for title in ("While polling", "Streaming again"):
        expect(center.item(title)).to_have_count(1)


def test_websocket_mode_receives_live_items_and_acknowledges_them(context: BrowserContext, web_server: HeraldServer,
                                                                  user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    sent_frames: list[str] = []
    ack_posts: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framesent", lambda payload: sent_frames.append(str(payload)))

    center.page.on("websocket", watch)
    center.page.on("request", lambda r: r.url.endswith("/api/notifications/ack") and ack_posts.append(r.url))
    use_transport(center.page, "websocket")
    wait_for_transport(center.page, "websocket")
    keep_toasts(center)

    items = [send(web_server, user_id, f"Over the socket {i}", priority=p) for i, p in enumerate(("urgent", "low"))]
    for i in range(2):
        expect(center.toast(f"Over the socket {i}")).to_have_count(1)
    center.expect_unread(2)
    assert eventually(center.page, lambda: receipts(web_server, user_id) == {item: True for item in items})
    def acked() -> set[str]:
        return {id_ for frame in sent_frames if (m := json.loads(frame))["type"] == "ack" for id_ in m["ids"]}

    assert eventually(center.page, lambda: acked() == set(items)), sent_frames
    assert ack_posts == []  # the receipts went over the socket, not by HTTP

    center.open()
    center.item("Over the socket 0").get_by_role("button", name="Mark read: Over the socket 0").click()
    center.expect_unread(1)


def test_a_blocked_websocket_falls_back_to_long_polling(context: BrowserContext, web_server: HeraldServer,
                                                        user_id: str) -> None:
    refused: list[str] = []

    def refuse(socket: WebSocketRoute) -> None:
        refused.append(socket.url)
        socket.close(code=1011, reason="blocked by a proxy")

    context.route_web_socket(re.compile(r".*/api/notifications/ws$"), refuse)
    center = sign_in(context, web_server, user_id)
    use_transport(center.page, "websocket")
    wait_for_transport(center.page, "poll")
    assert len(refused) == 2
    send(web_server, user_id, "Polled after the socket failed")
    center.expect_unread(1)
    center.open()
    expect(center.item("Polled after the socket failed")).to_have_count(1)
