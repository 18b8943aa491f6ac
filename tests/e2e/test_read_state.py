"""Read state: mark one, mark all, and every other tab of the user follows within a second."""
from __future__ import annotations

import re
from typing import Callable

from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer

SECOND_MS = 1000


def test_mark_one_and_mark_all_read_and_the_other_tab_follows(new_context: Callable[..., BrowserContext],
                                                              web_server: HeraldServer, user_id: str) -> None:
    first = sign_in(new_context(), web_server, user_id)
    second = sign_in(new_context(), web_server, user_id)
    for title in ("One", "Two", "Three"):
        send(web_server, user_id, title)
    first.expect_unread(3)
    second.expect_unread(3)

    first.open()
    first.item("Two").get_by_role("button", name="Mark read: Two").click()
    first.expect_unread(2)
    expect(first.item("Two")).not_to_have_class(re.compile(r"\bunread\b"))
    second.expect_unread(2, timeout=SECOND_MS)
    second.open()
    expect(second.item("Two")).not_to_have_class(re.compile(r"\bunread\b"), timeout=SECOND_MS)
    expect(second.unread_items).to_have_count(2)

    first.mark_all.click()
    first.expect_unread(0)
    second.expect_unread(0, timeout=SECOND_MS)
    expect(second.unread_items).to_have_count(0, timeout=SECOND_MS)

    # The count keeps tracking after the reads: no drift either way.
    send(web_server, user_id, "Four")
    first.expect_unread(1)
    second.expect_unread(1)
    second.item("Four").get_by_role("button", name="Mark read: Four").click()
    second.expect_unread(0)
    first.expect_unread(0, timeout=SECOND_MS)


def test_a_tab_opened_later_starts_from_the_server_count(new_context: Callable[..., BrowserContext],
                                                         web_server: HeraldServer, user_id: str) -> None:
    for n in range(30):
        send(web_server, user_id, f"Old {n}")
    first = sign_in(new_context(), web_server, user_id)
    # More unread than one page of history holds: the count is the server's, not the page's.
    first.expect_unread(30)
    first.open()
    first.mark_all.click()
    later = sign_in(new_context(), web_server, user_id)
    later.expect_unread(0)
