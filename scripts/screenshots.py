"""Take the center's screenshots in docs/: light, dark and Arabic (right to left), in real Chromium.

    python scripts/screenshots.py [--out docs]

Starts a development server on a temporary SQLite database, signs a demo user in, publishes a mix of
items (read, grouped, rich body, urgent), opens the center and saves ``center-light.png``,
``center-dark.png`` and ``center-rtl.png``. Retake them when the center changes.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.herald_server import HeraldServer  # noqa: E402

SHOTS = (("center-light.png", "light", "en"), ("center-dark.png", "dark", "en"), ("center-rtl.png", "light", "ar"))


def fill(server: HeraldServer, user: str) -> None:
    def send(title: str, **fields: object) -> None:
        server.publish(to={"users": [user]}, title=title, **{"type": "demo", **fields})

    send("Weekly digest is ready", type="digest")
    for actor in ("Anna", "Ben", "Chloé"):
        send(f"{actor} liked your post", type="post.liked", groupKey="post:42", actor=actor)
    send("Your order shipped", type="order.shipped", priority="high", url="/#order",
         body="Order **#1042** is *on its way*: track `TRK-9` with [the carrier](https://carrier.example/t)")
    send("Database primary is down", type="incident", priority="urgent", body="Failover started")


def shoot(page: Page, server: HeraldServer, user: str, path: Path, scheme: str, lang: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(server.url + "/")
    host = page.locator("herald-bell")
    # Right to left: the whole page mirrors, as an Arabic product's would.
    host.evaluate("""(el, lang) => {
        if (lang === 'ar') Object.assign(document.documentElement, { lang, dir: 'rtl' });
        el.setAttribute('lang', lang);
    }""", lang)
    page.wait_for_selector("herald-bell[data-status=connected]")
    page.wait_for_function("document.querySelector('herald-bell').client.store.items.length >= 4")
    host.locator(".bell").click()
    host.locator(".list > li").first.wait_for()
    page.wait_for_timeout(300)  # the panel's entry animation
    page.screenshot(path=str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        server = HeraldServer(Path(tmp)).start()
        try:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            context = browser.new_context(viewport={"width": 900, "height": 640}, reduced_motion="reduce")
            user = "screenshot-user"
            assert context.request.post(server.url + "/api/demo/login", data={"userId": user}).ok
            fill(server, user)
            page = context.new_page()
            for name, scheme, lang in SHOTS:
                shoot(page, server, user, args.out / name, scheme, lang)
                print(args.out / name)
            browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
