"""End-to-end fixtures: Debian's full Chromium driven by pytest-playwright, and a real Herald."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

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
