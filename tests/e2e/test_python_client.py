"""herald-client in Pyodide in Chromium: the subscriber tests of every runtime, and the /demo/python page.

Everything comes from Herald's origin: the runtime, the wheel, the lock, the API
(asserted on every request the pages made).
"""
from __future__ import annotations

from typing import Callable, Iterator

import pytest
from herald_client import Herald
from playwright.sync_api import Browser, Page, expect

from tests.herald_server import HeraldServer
from tests.integration.python_client.cases import CASES, CONNECTIONS_PER_USER
from tests.integration.python_client.runtimes import ChromiumRuntime, Runtime


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    server = HeraldServer(tmp_path_factory.mktemp("herald-pyodide"),
                          HERALD_CONNECTIONS_PER_USER=str(CONNECTIONS_PER_USER)).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def requests_made() -> list[str]:
    return []


@pytest.fixture(scope="module")
def chromium(browser: Browser, herald: HeraldServer, requests_made: list[str]) -> Iterator[ChromiumRuntime]:
    """One page for the module: Pyodide loads once (about 4 s), not once per test."""
    context = browser.new_context()
    context.on("request", lambda request: requests_made.append(request.url))
    yield ChromiumRuntime(context.new_page(), herald.url)
    context.close()


@pytest.fixture(scope="module")
def producer(herald: HeraldServer) -> Iterator[Herald]:
    with Herald(herald.url, herald.api_key) as client:
        yield client


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_subscriber_in_chromium(case: Callable[[Runtime, HeraldServer, Herald, str], None], chromium: ChromiumRuntime,
                                herald: HeraldServer, producer: Herald, user_id: str) -> None:
    case(chromium, herald, producer, user_id)


def test_every_request_of_the_pyodide_page_went_to_the_local_server(chromium: ChromiumRuntime, herald: HeraldServer,
                                                                     requests_made: list[str]) -> None:
    assert any(url.endswith("/static/vendor/pyodide/pyodide.asm.wasm") for url in requests_made)
    assert any("/herald_client-" in url for url in requests_made)
    assert any("/api/notifications/stream" in url for url in requests_made)  # the EventSource, cookie-borne
    assert [url for url in requests_made if not url.startswith(herald.url + "/")] == []


def test_the_python_demo_page_lists_the_inbox_and_prints_live_notifications(page: Page, web_server: HeraldServer,
                                                                           user_id: str) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    web_server.publish(to={"users": [user_id]}, type="t", title="Waiting for you")
    response = page.goto(f"{web_server.url}/demo/python?user={user_id}")
    assert response is not None and response.status == 200
    assert "'wasm-unsafe-eval'" in response.headers["content-security-policy"]
    expect(page.locator("#code")).to_contain_text("async for item in inbox:")
    output = page.locator("#output")
    expect(output).to_contain_text(f"{user_id} has 1 unread; the newest:\n  Waiting for you", timeout=60_000)
    page.get_by_role("button", name="Send me a notification").click()
    expect(output).to_contain_text(f"live: [high] Hello {user_id}, from the demo")
    web_server.publish(to={"users": [user_id]}, type="t", title="From the backend", priority="urgent")
    expect(output).to_contain_text("live: [urgent] From the backend")
    assert [url for url in requested if not url.startswith(web_server.url + "/")] == []

