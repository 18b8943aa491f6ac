"""Too many tabs: past HERALD_CONNECTIONS_PER_USER the oldest tab stops instead of fighting the newest."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in, use_transport, wait_for_transport
from tests.herald_server import HeraldServer


@pytest.fixture
def two_per_user(tmp_path: Path) -> Iterator[HeraldServer]:
    herald = HeraldServer(tmp_path / "herald", HERALD_CONNECTIONS_PER_USER="2").start()
    yield herald
    herald.stop()


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_the_oldest_tab_goes_offline_and_stays_so_while_the_newer_ones_stay_live(
        context: BrowserContext, two_per_user: HeraldServer, user_id: str, transport: str) -> None:
    tabs = []
    for _ in range(3):
        center = sign_in(context, two_per_user, user_id)
        if transport == "websocket":
            use_transport(center.page, "websocket")
            wait_for_transport(center.page, "websocket")
        tabs.append(center)
    oldest, *newer = tabs
    oldest.expect_status("disconnected")
    expect(oldest.host.locator(".conn")).to_have_text("Offline")
    send(two_per_user, user_id, "For the open tabs")
    for center in newer:
        center.expect_status("connected")
        expect(center.toast("For the open tabs")).to_have_count(1)
    oldest.page.wait_for_timeout(3000)  # longer than any reconnect backoff's first step
    oldest.expect_status("disconnected")
    for center in newer:
        center.expect_status("connected")
