"""The dashboard's numbers: read from the /metrics registry, rates and percentiles over time, small SVG charts."""
from __future__ import annotations

import re

import httpx

from tests.admin_client import AdminClient
from tests.herald_server import HeraldServer


def test_the_dashboard_page_shows_the_cards_and_refreshes(admin: AdminClient, server: HeraldServer,
                                                          user_id: str) -> None:
    server.publish(to={"users": [user_id]}, type="t", title="counted")
    page = admin.get("/admin/dashboard")
    assert page.status_code == 200
    for title in ("Connections now", "Notifications per minute", "Delivery latency", "Web Push per minute",
                  "Rate-limited requests"):
        assert title in page.text
    assert 'hx-get="/admin/dashboard/panel"' in page.text
    assert admin.get("/admin/dashboard/panel").status_code == 200
    assert "herald_publishes_total" in httpx.get(server.url + "/metrics").text


async def test_the_dashboard_shows_who_is_online(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    from tests.eventually import eventually
    from tests.sse_client import open_stream

    def online() -> int:
        match = re.search(r'Users online</h2>\s*<p class="value">([0-9,]+)</p>', admin.get("/admin/dashboard/panel").text)
        assert match, "the card is there"
        return int(match.group(1).replace(",", ""))

    before = online()
    async with open_stream(server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        assert eventually(lambda: online() == before + 1)
    assert eventually(lambda: online() == before)
