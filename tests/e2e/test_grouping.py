"""Items with one groupKey show as one group, updated in place: one row, one toast, one unread."""
from __future__ import annotations

import time

import httpx
from playwright.sync_api import BrowserContext, expect

from tests.e2e.center import send, sign_in
from tests.herald_server import HeraldServer

LIKERS = ["Anna", "Ben", "Chloé", "Dmitri", "Eve"]


def test_likes_collapse_into_one_expandable_group(context: BrowserContext, web_server: HeraldServer,
                                                  user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    for actor in LIKERS:
        send(web_server, user_id, f"{actor} liked your post", type="post.liked", groupKey="post:42:likes",
             actor=actor, url="/#post-42")
        center.expect_unread(1)

    expect(center.toasts).to_have_count(1)
    expect(center.toasts.first).to_contain_text("Eve and 4 others liked your post")
    center.open()
    expect(center.items).to_have_count(1)
    group = center.item("Eve and 4 others liked your post")
    expect(group).to_have_count(1)

    group.get_by_role("button", name="Show who: Eve and 4 others liked your post").click()
    expect(group).to_contain_text("Eve, Dmitri, Chloé, and 2 others")
    group.get_by_role("button", name="Hide who: Eve and 4 others liked your post").click()
    expect(group).not_to_contain_text("Dmitri")


def test_a_group_without_actors_shows_its_count(context: BrowserContext, web_server: HeraldServer,
                                                user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    for _ in range(3):
        send(web_server, user_id, "New orders waiting", groupKey="orders:new", priority="high")
    center.open()
    expect(center.item("New orders waiting")).to_have_count(1)
    expect(center.item("New orders waiting")).to_contain_text("+2")
    expect(center.toast("New orders waiting")).to_contain_text("+2")
    center.expect_unread(1)


def test_a_read_group_starts_a_new_one(context: BrowserContext, web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    send(web_server, user_id, "Anna liked your post", groupKey="post:7:likes", actor="Anna")
    send(web_server, user_id, "Ben liked your post", groupKey="post:7:likes", actor="Ben")
    center.open()
    expect(center.item("Ben and 1 other liked your post")).to_be_visible()
    center.mark_all.click()
    center.expect_unread(0)
    send(web_server, user_id, "Chloé liked your post", groupKey="post:7:likes", actor="Chloé")
    center.expect_unread(1)
    expect(center.items).to_have_count(2)
    expect(center.item("Chloé liked your post")).to_have_count(1)


def test_50_likes_in_2_s_show_as_one_grouped_toast_and_one_inbox_item_with_the_right_count(
        context: BrowserContext, web_server: HeraldServer, user_id: str) -> None:
    center = sign_in(context, web_server, user_id)
    started = time.monotonic()
    with httpx.Client(base_url=web_server.url, headers=web_server.headers(), timeout=10) as producer:
        for n in range(50):
            # A steady stream over two seconds, as a post going viral would send them.
            time.sleep(max(0.0, started + n * 0.04 - time.monotonic()))
            answer = producer.post("/api/publish", json={
                "to": {"users": [user_id]}, "type": "post.liked", "title": f"Fan{n} liked your post",
                "groupKey": "post:viral:likes", "actor": f"Fan{n}", "url": "/#post-viral"})
            assert answer.status_code == 202
    expect(center.toasts.first).to_contain_text("Fan49 and 49 others liked your post")
    expect(center.toasts).to_have_count(1)
    center.expect_unread(1)
    center.open()
    expect(center.items).to_have_count(1)
    expect(center.item("Fan49 and 49 others liked your post")).to_have_count(1)
