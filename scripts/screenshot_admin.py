"""Take docs/admin-dashboard.png: a real Herald with some traffic, its admin dashboard in Chromium.

    python scripts/screenshot_admin.py [--seconds 75] [--out docs/admin-dashboard.png] [--page /admin/send]

Starts a development server on a temporary SQLite database, creates an admin,
holds a few SSE connections open and publishes at a varying rate, so that the
dashboard's charts have a history, then signs in and saves a screenshot.
"""
from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.herald_server import HeraldServer  # noqa: E402

PASSWORD = "screenshot-password-1"


def listen(server: HeraldServer, user: str, stop: threading.Event, hold_seconds: float) -> None:
    token = server.token(user)
    try:
        with httpx.stream("GET", server.url + "/api/notifications/stream",
                          headers={"Authorization": f"Bearer {token}"}, timeout=None) as response:
            started = time.monotonic()
            for _ in response.iter_lines():
                if stop.is_set() or time.monotonic() - started > hold_seconds:
                    return
    except httpx.HTTPError:
        return  # the server stopped first


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=75.0, help="how long to make traffic before the picture")
    parser.add_argument("--out", default=str(ROOT / "docs" / "admin-dashboard.png"))
    parser.add_argument("--page", default="/admin/dashboard")
    args = parser.parse_args()

    server = HeraldServer(Path(tempfile.mkdtemp()) / "herald").start()
    stop = threading.Event()
    try:
        subprocess.run([sys.executable, "-m", "herald.cli", "admin", "create", "ops", "--password-stdin"],
                       input=PASSWORD.encode() + b"\n", env=server.env, check=True, capture_output=True)
        users = [f"user{i}" for i in range(12)]
        # Connections come and go so that the connections chart moves.
        for i, user in enumerate(users):
            threading.Thread(target=listen, args=(server, user, stop, args.seconds * (0.3 + 0.06 * i)),
                             daemon=True).start()
        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < args.seconds:
            rate = 2.0 + 1.5 * math.sin(elapsed / 9.0)  # publishes per second, varying
            batch = users[: 1 + sent % len(users)]
            server.publish(to={"users": batch}, type="demo", title=f"Order #{1000 + sent} shipped",
                           priority=("high", "medium", "low")[sent % 3])
            sent += 1
            time.sleep(1.0 / rate)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(server.url + "/admin/login")
            page.get_by_label("Username").fill("ops")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/admin/dashboard")
            if args.page != "/admin/dashboard":
                page.goto(server.url + args.page)
            page.wait_for_timeout(500)
            page.screenshot(path=args.out, full_page=True)
            browser.close()
        print(f"saved {args.out} after {sent} publishes")
    finally:
        stop.set()
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
