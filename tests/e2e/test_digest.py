"""Past the per-user live limit, items arrive quiet: listed and counted, with one digest toast for them all."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer


@pytest.fixture
def limited_server(tmp_path: Path) -> Iterator[HeraldServer]:
    """Three new notifications per user per minute get their own toast."""
    herald = HeraldServer(tmp_path / "herald", HERALD_RECIPIENT_LIVE_PER_MINUTE="3").start()
    yield herald
    herald.stop()


def test_a_burst_beyond_the_limit_shows_one_digest_toast_and_every_item(
        context: BrowserContext, limited_server: HeraldServer, user_id: str) -> None:
    center = sign_in(context, limited_server, user_id)
    # Room for every toast at once, so that none waits in the queue and the count below is exact.
    center.host.evaluate("el => el.setAttribute('max-toasts', '10')")
    for n in range(15):
        send(limited_server, user_id, f"Order {n} shipped")
    center.expect_unread(15)
    digest = center.toast("12 new notifications")
    expect(digest).to_have_count(1)
    expect(center.toasts).to_have_count(4)
    for n in range(3):
        expect(center.toast(f"Order {n} shipped")).to_have_count(1)
    expect(center.toast("Order 3 shipped")).to_have_count(0)
    center.open()
    expect(center.items).to_have_count(15)
    # The digest is a summary, not an item: dismissing it reads nothing.
    digest.get_by_role("button", name="Dismiss: 12 new notifications").click()
    expect(center.toasts.filter(has_text="new notifications")).to_have_count(0)
    center.expect_unread(15)
    # The next quiet item starts a new count.
    send(limited_server, user_id, "Order 15 shipped")
    expect(center.toast("1 new notification")).to_have_count(1)
