"""The demo page loads in real Chromium from Herald itself."""
from playwright.sync_api import Page

from tests.herald_server import HeraldServer


def test_demo_page_is_served(page: Page, web_server: HeraldServer) -> None:
    response = page.goto(web_server.url + "/")
    assert response is not None and response.status == 200
    assert "Herald" in page.title() or "Herald" in page.content()
