"""End-to-end fixtures: Debian's full Chromium driven by pytest-playwright, and a real Herald."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.e2e.service_worker import APP_PAGE, App
from tests.fake_push_service import FakePushService
from tests.herald_server import HeraldServer

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium tries Google's services, which this closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    # Screenshots of every page of a failed test land in test-results/ (pytest-playwright's
    # --output) unless the command line asks for something else.
    if getattr(config.option, "screenshot", None) == "off":
        config.option.screenshot = "only-on-failure"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    # The full Chromium (not the headless shell): notifications and service workers need it.
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS,
            "channel": None, "headless": True}


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """One development-mode server on SQLite shared by the browser tests (distinct users per test)."""
    herald = HeraldServer(tmp_path_factory.mktemp("herald-e2e")).start()
    yield herald
    herald.stop()


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[HeraldServer]:
    """A server of the test's own, for tests that restart it."""
    herald = HeraldServer(tmp_path / "herald").start()
    yield herald
    herald.stop()


@pytest.fixture(scope="module")
def push_service(web_server: HeraldServer) -> Iterator[FakePushService]:
    service = FakePushService().start()
    service.vapid_public_key = httpx.get(web_server.url + "/api/push/vapid-public-key").json()["publicKey"]
    yield service
    service.stop()


@pytest.fixture
def app(context: BrowserContext, web_server: HeraldServer, push_service: FakePushService, user_id: str) -> App:
    app = App(context, web_server, push_service, user_id)
    context.grant_permissions(["notifications"], origin=app.origin)
    # The product's pages: any path under Herald's origin is inside the worker's scope.
    context.route(f"{app.origin}/app/**", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                     body=APP_PAGE))
    signed_in = context.request.post(app.origin + "/api/session", headers={"Authorization": f"Bearer {app.token}"})
    assert signed_in.ok
    return app
