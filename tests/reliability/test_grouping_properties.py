"""Hypothesis against inbox grouping on a running server: random publishes and reads versus a small model.

The model is design section 7 in a dozen lines: an item with a ``groupKey`` joins the user's unread
item of that key (its id stays the first one's, its count grows, its title is the newest, its
newest distinct actors lead, at most three), and starts a new item when there is none (never
grouped, or read). Whatever the order of publishes, keys, actors and reads, the inbox the REST
list returns is the model's, on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.herald_server import HeraldServer

MAX_ACTORS = 3
_users = itertools.count()


@dataclass
class Item:
    id: str
    title: str
    group_key: str | None
    count: int = 1
    actors: list[str] | None = None
    read: bool = False
    seq: int = 0


@dataclass
class Model:
    items: list[Item] = field(default_factory=list)
    seq: int = 0

    def publish(self, sent_id: str, title: str, key: str | None, actor: str | None) -> None:
        self.seq += 1
        open_item = next((i for i in self.items if key is not None and i.group_key == key and not i.read), None)
        if open_item is None:
            self.items.append(Item(sent_id, title, key, actors=[actor] if actor else None, seq=self.seq))
            return
        actors = list(open_item.actors or [])
        if actor:
            actors = [actor] + [a for a in actors if a != actor]
        open_item.count += 1
        open_item.actors = actors[:MAX_ACTORS] or None
        open_item.title = title
        open_item.seq = self.seq  # a group update takes the next sequence number

    def read(self, item_id: str | None) -> None:
        changed = False
        for item in self.items:
            if (item_id is None or item.id == item_id) and not item.read:
                item.read = changed = True
        if changed or item_id is None:
            self.seq += 1  # a read is an inbox change: it takes the next sequence number too


publish = st.tuples(st.just("publish"), st.sampled_from([None, "post:1", "post:2"]),
                    st.sampled_from([None, "Anna", "Bo", "Cy", "Di", "Ed"]))
# Publishing three times as often as reading, so that groups grow past their three actors.
actions = st.lists(st.one_of(
    publish, publish, publish,
    st.tuples(st.just("read"), st.integers(min_value=0, max_value=20), st.none()),
    st.tuples(st.just("read-all"), st.none(), st.none()),
), min_size=1, max_size=16)


@given(steps=actions)
@example(steps=[("publish", "post:1", a) for a in ("Anna", "Bo", "Cy", "Di", "Bo", None)]
         + [("read", 0, None), ("publish", "post:1", "Ed"), ("publish", None, "Ed")])
@settings(max_examples=30)
def test_grouping_matches_the_model_whatever_the_order(server: HeraldServer, steps: list[tuple]) -> None:
    user = f"grouping-{next(_users)}"
    model = Model()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        subscriber = {"Authorization": f"Bearer {server.token(user)}"}
        for number, (kind, key_or_index, actor) in enumerate(steps):
            if kind == "publish":
                title = f"#{number} {actor or 'someone'} on {key_or_index}"
                body = {"to": {"users": [user]}, "type": "t", "title": title}
                body.update({k: v for k, v in (("groupKey", key_or_index), ("actor", actor)) if v is not None})
                answer = http.post("/api/publish", json=body, headers=server.headers())
                assert answer.status_code == 202, answer.text
                model.publish(answer.json()["id"], title, key_or_index, actor)
            elif kind == "read" and model.items:
                item = model.items[key_or_index % len(model.items)]
                answer = http.post(f"/api/notifications/{item.id}/read", headers=subscriber)
                assert answer.status_code == 200, answer.text
                model.read(item.id)
            elif kind == "read-all":
                assert http.post("/api/notifications/read-all", headers=subscriber).status_code == 200
                model.read(None)
        page = http.get("/api/notifications", params={"limit": 200}, headers=subscriber).json()
    newest_first = sorted(model.items, key=lambda i: -i.seq)
    assert [(i["id"], i["title"], i["groupCount"], i["actors"], i["read"]) for i in page["items"]] == [
        (i.id, i.title, i.count, i.actors, i.read) for i in newest_first]
    assert page["unreadCount"] == sum(not i.read for i in model.items)
    # The newest page's cursor is its newest item's (the contract); with no item, the inbox head.
    assert page["cursor"] == str(max((i.seq for i in model.items), default=model.seq))
