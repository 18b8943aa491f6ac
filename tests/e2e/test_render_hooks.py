"""Render hooks: a page's ``renderItem`` builds rows and toasts its own way, and slots replace the header and the empty state."""
from __future__ import annotations

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer

HOOK = """el => {
  window.__hooked = [];
  el.renderItem = (item, node, where) => {
    window.__hooked.push(where);
    if (item.type !== 'custom') return node;  // the default look, unchanged
    const card = document.createElement('div');
    card.className = 'card';
    card.textContent = `${where}: ${item.title} (${item.data.sku})`;
    const open = node.querySelector('.open');  // the default's parts keep their behaviour where reused
    if (where === 'list' && open) card.append(open);
    return card;
  };
}"""


def test_render_item_replaces_rows_and_toasts_and_keeps_the_default_for_others(context: BrowserContext,
                                                                               web_server: HeraldServer,
                                                                               user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.host.evaluate(HOOK)
    send(web_server, user_id, "Plain one")
    send(web_server, user_id, "Special", type="custom", data={"sku": "A-7"})
    expect(center.host.locator(".toast .card")).to_have_text("toast: Special (A-7)")
    center.open()
    expect(center.item("Special").locator(".card")).to_contain_text("list: Special (A-7)")
    expect(center.item("Plain one").get_by_role("button", name="Mark read: Plain one")).to_be_visible()
    # The reused default link still marks the item read.
    center.item("Special").locator(".card .open").click()
    center.expect_unread(1)
    assert {"list", "toast"} <= set(center.page.evaluate("window.__hooked"))


def test_slots_replace_the_header_and_the_empty_state(context: BrowserContext, web_server: HeraldServer,
                                                      user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    center.host.evaluate("""el => el.insertAdjacentHTML('beforeend',
        '<span slot="header">Inbox of Acme</span><p slot="empty">All caught up! <a href="/#help">Help</a></p>')""")
    center.open()
    expect(center.panel.get_by_role("heading", name="Inbox of Acme")).to_be_visible()
    expect(center.host.locator("[slot=empty]")).to_be_visible()
    expect(center.host.get_by_role("list", name="Inbox of Acme")).to_be_attached()
    send(web_server, user_id, "Now there is one")
    expect(center.item("Now there is one")).to_be_visible()
    expect(center.host.locator("[slot=empty]")).to_be_hidden()


def test_a_page_drawing_its_own_rows_gets_the_same_safe_body_and_the_strings(context: BrowserContext,
                                                                             web_server: HeraldServer,
                                                                             user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    drawn = center.page.evaluate("""async () => {
        const { rich, plain, loadStrings } = await import('/static/herald/index.js');
        const row = document.createElement('p');
        row.append(...rich('**Hi** <img src=x onerror="window.__pwned=1"> [docs](https://example.com/)'));
        const s = await loadStrings('de');
        return { html: row.innerHTML, plain: plain('**Hi** [docs](https://example.com/)'), markAll: s.t('markAll') };
    }""")
    assert drawn["html"] == ('<strong>Hi</strong> &lt;img src=x onerror="window.__pwned=1"&gt; '
                             '<a href="https://example.com/" rel="noopener noreferrer" target="_blank">docs</a>')
    assert drawn["plain"] == "Hi docs" and drawn["markAll"] == "Alle als gelesen markieren"
