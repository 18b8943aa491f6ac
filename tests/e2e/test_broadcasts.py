"""Broadcasts in Chromium: a publish to ``{"all": true}`` reaches the open bell live, over SSE and WebSocket.

A broadcast's live frame carries no cursor (server/herald/broadcasts.py): the bell counts it as new
until its next count, the inbox copies it on the user's next read (so a read and a reload keep it),
and a retract of it reaches the open list without a count of its own.

Each test has a server of its own: a broadcast reaches every user the server knows, and these must
not land in the inboxes of other tests' users.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Route, expect

from tests.e2e.center import Center, send, sign_in, use_transport, wait_for_transport
from tests.herald_server import HeraldServer

TRANSPORTS = ["sse", "websocket"]
UNREAD = re.compile(r"\bunread\b")
# Longer than the bell's count check after a change (client.js #settle: 400-800 ms), so a badge
# that only looked right until the server's count came back would show it.
SETTLE_MS = 1200

# What the user saw when each row first showed: the badge of that same render (bell.js #render
# draws the badge and the list together). And the bell's own events, in order: its notifications,
# and every change of its unread count.
WATCH = """() => {
  const root = document.querySelector('herald-bell').shadowRoot;
  const list = root.querySelector('.list'), badge = root.querySelector('.badge');
  window.__rows = [];
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) {
      if (node.dataset?.id) window.__rows.push({ id: node.dataset.id, badge: badge.hidden ? '' : badge.textContent });
    }
  }).observe(list, { childList: true });
  window.__notified = [];
  document.addEventListener('herald:notification', (event) => window.__notified.push(
    { id: event.detail.item.id, broadcast: event.detail.item.broadcast === true }));
  window.__counts = [];
  document.addEventListener('herald:unread', (event) => window.__counts.push(event.detail.count));
  window.__samePage = true;
}"""


@dataclass
class Tab:
    """The demo page's bell for one user, with what the page received and any error it threw."""

    center: Center
    frames: list[dict] = field(default_factory=list)  # WebSocket frames received, parsed
    errors: list[str] = field(default_factory=list)  # uncaught exceptions in the page

    def counts(self) -> list[int]:
        """The badge's counts since ``WATCH``, in order."""
        return self.center.page.evaluate("window.__counts")


def connect(context: BrowserContext, server: HeraldServer, user_id: str, transport: str) -> Tab:
    """The demo page signed in as the user, its bell on ``transport``, and its list open and settled."""
    center = sign_in(context, server, user_id)
    tab = Tab(center)
    center.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    center.page.on("websocket", lambda socket: socket.on(
        "framereceived", lambda payload: tab.frames.append(json.loads(payload))))
    if transport == "websocket":
        use_transport(center.page, "websocket")
    wait_for_transport(center.page, transport)
    center.open()
    # Opening marks the shown items seen; that change's count and the check after it come back first.
    center.page.wait_for_timeout(SETTLE_MS)
    return tab


def still_unread(center: Center, count: int) -> None:
    """The badge and the bell's name show ``count`` right now (Playwright's ``timeout=0`` would wait forever)."""
    badge = None if center.badge.is_hidden() else center.badge.text_content()
    name = center.bell.get_attribute("aria-label")
    assert (badge, name) == ((str(count), f"Notifications, {count} unread") if count
                             else (None, "Notifications, no unread")), (badge, name)


def is_unread(center: Center, item_id: str) -> bool:
    return bool(UNREAD.search(row(center, item_id).get_attribute("class") or ""))


def row(center: Center, item_id: str) -> Locator:
    """A list row by notification id: exact, whatever else the list holds."""
    return center.host.locator(f'.list > li[data-id="{item_id}"]')


def known_with_one_unread(server: HeraldServer, user_id: str) -> str:
    """One personal item first: the user is known to Herald before the broadcast, which ``all`` then names."""
    personal = send(server, user_id, f"Personal for {user_id}")
    time.sleep(0.005)  # the user's creation time strictly before the broadcast's
    return personal


def broadcast(server: HeraldServer, title: str) -> str:
    sent = server.publish(to={"all": True}, type="announcement", title=title)
    # Stored once as a broadcast (fan-out on read), not written per recipient.
    assert server.sql("SELECT bseq FROM broadcasts WHERE notification_id = :n", n=sent["id"]), sent
    return str(sent["id"])


def live_frame_of(frames: list[dict], item_id: str) -> dict:
    [frame] = [f for f in frames if f.get("type") == "notification" and f["notification"]["id"] == item_id
               and f["notification"].get("broadcast")]
    return frame


def arrives_live(tab: Tab, server: HeraldServer, transport: str, title: str, before: int = 1) -> str:
    """Publish a broadcast to the open list: it shows as an unread row and the badge goes up by one."""
    center = tab.center
    center.page.evaluate(WATCH)
    sent = broadcast(server, title)
    expect(row(center, sent)).to_have_count(1)
    expect(row(center, sent)).to_have_class(UNREAD)
    expect(row(center, sent)).to_contain_text(title)
    center.expect_unread(before + 1)
    # Counted the moment it showed, from the live frame itself: not only once the inbox's copy
    # (which has a cursor) or the server's next count came in.
    first = next(r for r in center.page.evaluate("window.__rows") if r["id"] == sent)
    assert first["badge"] == str(before + 1), center.page.evaluate("window.__rows")
    notified = [n for n in center.page.evaluate("window.__notified") if n["id"] == sent]
    assert notified and notified[0]["broadcast"] is True, notified
    center.page.wait_for_timeout(SETTLE_MS)
    still_unread(center, before + 1)
    assert center.page.evaluate("window.__samePage") is True  # live, not through a reload
    if transport == "websocket":
        frame = live_frame_of(tab.frames, sent)
        assert "cursor" not in frame and frame["notification"]["broadcast"] is True, frame
    assert tab.errors == []
    return sent


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_broadcast_shows_live_in_the_open_list_and_counts_as_unread(
        context: BrowserContext, private_server: HeraldServer, user_id: str, transport: str) -> None:
    personal = known_with_one_unread(private_server, user_id)
    tab = connect(context, private_server, user_id, transport)
    center = tab.center
    center.expect_unread(1)
    expect(row(center, personal)).to_have_class(UNREAD)

    sent = arrives_live(tab, private_server, transport, f"Maintenance tonight ({transport})")
    expect(row(center, personal)).to_have_class(UNREAD)
    # Newest first: the broadcast above the personal item.
    assert center.items.evaluate_all("rows => rows.map(r => r.dataset.id)")[:2] == [sent, personal]
    assert tab.counts() == [2]  # 1 -> 2, and no wobble since


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_marking_a_broadcast_read_counts_down_and_survives_a_reload(
        context: BrowserContext, private_server: HeraldServer, user_id: str, transport: str) -> None:
    personal = known_with_one_unread(private_server, user_id)
    tab = connect(context, private_server, user_id, transport)
    center = tab.center
    center.expect_unread(1)
    title = f"New terms of service ({transport})"
    sent = arrives_live(tab, private_server, transport, title)

    row(center, sent).get_by_role("button", name=f"Mark read: {title}").click()
    center.expect_unread(1)
    expect(row(center, sent)).not_to_have_class(UNREAD)
    center.page.wait_for_timeout(SETTLE_MS)
    still_unread(center, 1)
    assert tab.counts() == [2, 1]
    assert tab.errors == []
    # The read copied it into the user's inbox, read.
    assert private_server.sql("SELECT read FROM inbox_items WHERE user_id = :u AND notification_id = :n",
                              u=user_id, n=sent) == [(True,)]

    center.page.reload()
    center.expect_status("connected")
    if transport == "websocket":
        use_transport(center.page, "websocket")
    wait_for_transport(center.page, transport)
    center.expect_unread(1)
    center.open()
    expect(row(center, sent)).to_have_count(1)
    expect(row(center, sent)).not_to_have_class(UNREAD)
    expect(row(center, personal)).to_have_class(UNREAD)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_retracted_broadcast_leaves_the_open_list_and_the_count(
        context: BrowserContext, private_server: HeraldServer, user_id: str, transport: str) -> None:
    personal = known_with_one_unread(private_server, user_id)
    tab = connect(context, private_server, user_id, transport)
    center = tab.center
    center.expect_unread(1)
    sent = arrives_live(tab, private_server, transport, f"Sent by mistake ({transport})")

    answer = httpx.delete(f"{private_server.url}/api/notifications/{sent}", headers=private_server.headers())
    assert answer.status_code == 200, answer.text
    expect(row(center, sent)).to_have_count(0)
    center.expect_unread(1)
    center.page.wait_for_timeout(SETTLE_MS)
    still_unread(center, 1)
    expect(row(center, personal)).to_have_class(UNREAD)  # a retract without a count reads nothing else
    assert tab.counts() == [2, 1]  # straight back, never through a wrong count
    assert center.page.evaluate("window.__samePage") is True
    assert tab.errors == []

    # Never comes back: not on a reload either.
    center.page.reload()
    center.expect_status("connected")
    center.expect_unread(1)
    center.open()
    expect(row(center, personal)).to_have_count(1)
    expect(row(center, sent)).to_have_count(0)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_count_read_before_the_broadcast_does_not_take_it_back(
        context: BrowserContext, private_server: HeraldServer, user_id: str, transport: str) -> None:
    """The bell's count check, answered by the server before the broadcast but arriving after its live frame.

    The count lacks the broadcast; the inbox's copy of it, at a cursor after that count's, says so
    (store.js ``merge``). Without that, the badge lost the broadcast and its row showed read.
    """
    personal = known_with_one_unread(private_server, user_id)
    tab = connect(context, private_server, user_id, transport)
    center = tab.center
    center.expect_unread(1)
    held: list[Route] = []
    center.page.route("**/api/notifications?limit=1", lambda route: route.continue_() if held else held.append(route))
    # Read in another tab: the read event settles the count here, and the bell checks it shortly after.
    token = private_server.token(user_id)
    read = httpx.post(f"{private_server.url}/api/notifications/{personal}/read",
                      headers={"Authorization": f"Bearer {token}"})
    assert read.status_code == 200, read.text
    center.expect_unread(0)
    deadline = time.monotonic() + 5
    while not held and time.monotonic() < deadline:
        center.page.wait_for_timeout(50)
    assert held, "the bell did not check its count after the read"
    stale = held[0].fetch()  # the server answers the check now, before the broadcast
    assert stale.json()["unreadCount"] == 0

    sent = arrives_live(tab, private_server, transport, f"Office closed Friday ({transport})", before=0)
    # The inbox has its copy by now (the bell's receipt read the inbox), and the page has seen it.
    [(seq,)] = private_server.sql("SELECT seq FROM inbox_items WHERE user_id = :u AND notification_id = :n",
                                  u=user_id, n=sent)
    center.page.wait_for_function(
        "(seq) => BigInt(document.querySelector('herald-bell').client.store.position) >= BigInt(seq)", arg=str(seq))
    held[0].fulfill(response=stale)
    center.page.wait_for_timeout(SETTLE_MS)
    still_unread(center, 1)
    assert is_unread(center, sent)
    assert tab.counts() == [1]
    assert tab.errors == []
