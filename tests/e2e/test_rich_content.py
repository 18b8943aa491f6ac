"""Rich bodies in real Chromium: the markdown subset becomes elements, and nothing else ever becomes markup.

Each hostile body goes through the dropdown and a toast (``format.rich``), and the operating system's
notification gets the body with its marks dropped (``format.plain``).
"""
from __future__ import annotations

from typing import Callable

import pytest
from playwright.sync_api import BrowserContext, Locator, expect

from tests.e2e.center import Center, keep_toasts, recording_context, send, sign_in
from tests.herald_server import HeraldServer

RICH = "Order **#1042** is *on its way*: track `TRK-9` at [the carrier](https://carrier.example/track)"

HOSTILE = {
    "script": "<script>window.__pwned=1</script>**<script>window.__pwned=2</script>**",
    "handler": '*<img src=x onerror="window.__pwned=3">* [<svg onload="window.__pwned=4">](https://ok.example/)',
    "javascript link": "[click me](javascript:window.__pwned=5) [again](JaVaScRiPt:window.__pwned=6)",
    "data link": "[open](data:text/html;base64,PHNjcmlwdD53aW5kb3cuX19wd25lZD03PC9zY3JpcHQ+) [v](vbscript:x)",
    "attribute break": '[x](https://ok.example/"onmouseover="window.__pwned=8")',
    "nested and unclosed": "**bold *em **still** `code **not bold**` [a](https://ok.example/) unclosed ** and * and [x](",
}

# Records the body each system notification gets, on top of center.RECORDER.
BODIES = """(() => {
  window.__bodies = [];
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options = {}) { window.__bodies.push(options.body); super(title, options); }
  };
  const show = ServiceWorkerRegistration.prototype.showNotification;
  ServiceWorkerRegistration.prototype.showNotification = function (title, options = {}) {
    window.__bodies.push(options.body);
    return show.call(this, title, options);
  };
})();"""


def body_of(center: Center, title: str) -> Locator:
    return center.item(title).locator(".body")


def markup_in(locator: Locator) -> list[str]:
    """The elements under ``locator``: tag names, with every attribute they carry."""
    return locator.evaluate("""el => [...el.querySelectorAll('*')].map((n) =>
        [n.localName, ...[...n.attributes].map((a) => a.name)].join(' '))""")


def test_the_markdown_subset_renders_as_elements_in_the_list_and_the_toast(context: BrowserContext,
                                                                           web_server: HeraldServer,
                                                                           user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Shipped", body=RICH)
    toast = center.toast("Shipped").locator(".body")
    center.open()
    for body in (body_of(center, "Shipped"), toast):
        expect(body.locator("strong")).to_have_text("#1042")
        expect(body.locator("em")).to_have_text("on its way")
        expect(body.locator("code")).to_have_text("TRK-9")
        link = body.get_by_role("link", name="the carrier")
        expect(link).to_have_attribute("href", "https://carrier.example/track")
        expect(link).to_have_attribute("rel", "noopener noreferrer")
        expect(link).to_have_attribute("target", "_blank")
        expect(body).to_have_text("Order #1042 is on its way: track TRK-9 at the carrier")
    # A link may not nest inside the row's own link or button.
    expect(center.item("Shipped").locator(".open a, button a")).to_have_count(0)


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bodies_stay_text_in_the_list_and_the_toast(context: BrowserContext, web_server: HeraldServer,
                                                            user_id: str, case: str) -> None:
    errors: list[str] = []
    center = sign_in(context, web_server, user_id)
    center.page.on("pageerror", lambda error: errors.append(str(error)))
    keep_toasts(center)
    send(web_server, user_id, "Hostile", body=HOSTILE[case])
    toast = center.toast("Hostile").locator(".body")
    center.open()
    for body in (body_of(center, "Hostile"), toast):
        expect(body).to_be_visible()
        for element in markup_in(body):
            name, *attributes = element.split()
            assert name in ("strong", "em", "code", "a"), element
            assert set(attributes) <= ({"href", "rel", "target"} if name == "a" else set()), element
        for href in body.locator("a").evaluate_all("links => links.map((a) => a.protocol)"):
            assert href in ("https:", "http:", "mailto:")
    assert center.host.locator("script, img, svg:not(.bell svg)").count() == 0
    if case in ("javascript link", "data link"):
        expect(body_of(center, "Hostile").locator("a")).to_have_count(0)
        expect(body_of(center, "Hostile")).to_contain_text("[click me](javascript:" if case == "javascript link" else "[open](data:")
    center.host.locator(".body").evaluate_all("nodes => nodes.forEach((n) => n.dispatchEvent(new MouseEvent('mouseover')))")
    assert center.page.evaluate("window.__pwned") is None
    assert errors == []


def test_a_very_long_marked_up_body_renders_quickly_and_whole(context: BrowserContext, web_server: HeraldServer,
                                                              user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    body = "[x](" * 1000  # a link that never closes, 4,000 characters long: all of it text
    send(web_server, user_id, "Long", body=body)
    center.open()
    expect(body_of(center, "Long")).to_have_text(body)
    expect(body_of(center, "Long").locator("*")).to_have_count(0)
    worst = "**" + "*a `b [c](d" * 363  # every mark opened, none closed
    took = center.page.evaluate("""async (text) => {
        const { rich } = await import('/static/herald/format.js');
        const start = performance.now();
        for (let i = 0; i < 20; i++) rich(text);
        return (performance.now() - start) / 20;
    }""", worst)
    assert took < 50, f"rendering one hostile 4,000-character body took {took:.1f} ms"


def test_system_notifications_get_the_body_as_plain_text(new_context: Callable[..., BrowserContext],
                                                         web_server: HeraldServer, user_id: str) -> None:
    context = recording_context(new_context, web_server, granted=True)
    context.add_init_script(BODIES)
    center = sign_in(context, web_server, user_id)
    center.page.evaluate("window.__setHidden(true)")
    send(web_server, user_id, "Shipped", priority="urgent", body=RICH)
    center.page.wait_for_function("window.__bodies.length >= 1")
    assert center.page.evaluate("window.__bodies")[0] == "Order #1042 is on its way: track TRK-9 at the carrier"


def test_the_avatar_and_the_image_show_with_the_item(context: BrowserContext, web_server: HeraldServer,
                                                     user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    avatar, image = "http://127.0.0.1:9/anna.png", "http://127.0.0.1:9/post.png"  # loopback: a development server
    send(web_server, user_id, "Anna liked your post", avatarUrl=avatar, imageUrl=image)
    center.open()
    item = center.item("Anna liked your post")
    expect(item.locator("img.avatar")).to_have_attribute("src", avatar)
    expect(item.locator("img.picture")).to_have_attribute("src", image)
    expect(item.locator("img")).to_have_count(2)
    for alt in item.locator("img").evaluate_all("imgs => imgs.map((i) => [i.alt, i.referrerPolicy])"):
        assert alt == ["", "no-referrer"]
