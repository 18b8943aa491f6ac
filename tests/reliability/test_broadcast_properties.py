"""Hypothesis: inboxes that take broadcasts on read (broadcasts.py) look like inboxes written per recipient.

The model is the naive one a broadcast replaced: at publish time, every user Herald knows gets
the item in their own inbox. Random sequences of personal publishes, broadcasts, users joining
later, reads (one item, or all) and looks at the inbox, on a running server (SQLite and
PostgreSQL). Whatever the order, each user's REST list holds exactly the model's items with the
model's read state and unread count, and paging it (``before`` back from the newest, and
``since`` forward from the start) returns each item exactly once.
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.herald_server import HeraldServer

_runs = itertools.count()


@dataclass
class Model:
    inboxes: dict[str, dict[str, bool]] = field(default_factory=dict)  # user -> item id -> read

    def join(self, user: str) -> None:
        self.inboxes.setdefault(user, {})

    def deliver(self, users: list[str], item_id: str) -> None:
        for user in users:
            self.inboxes[user][item_id] = False


step = st.one_of(
    st.tuples(st.just("personal"), st.integers(0, 2)),
    st.tuples(st.just("broadcast"), st.just(0)),
    st.tuples(st.just("broadcast"), st.just(0)),
    st.tuples(st.just("join"), st.just(0)),
    st.tuples(st.just("read"), st.integers(0, 30)),
    st.tuples(st.just("read-all"), st.integers(0, 2)),
    st.tuples(st.just("look"), st.integers(0, 2)),
)


def all_pages(http: httpx.Client, token: str, **first: str) -> list[dict]:  # type: ignore[type-arg]
    headers = {"Authorization": f"Bearer {token}"}
    items, params = [], {"limit": "2", **first}
    for _ in range(100):
        page = http.get("/api/notifications", params=params, headers=headers).json()
        items += page["items"]
        if "since" in first:
            if page["cursor"] == params["since"]:  # changes (reads) take cursors too: a page may hold no item
                return items
            params = {"limit": "2", "since": page["cursor"]}
        else:
            if page["nextBefore"] is None:
                return items
            params = {"limit": "2", "before": page["nextBefore"]}
    raise AssertionError("paging never ended")


@given(steps=st.lists(step, min_size=1, max_size=14))
@settings(max_examples=25)
def test_inboxes_match_the_per_recipient_model(server: HeraldServer, steps: list[tuple[str, int]]) -> None:
    run = next(_runs)
    model = Model()
    users = [f"bm{run}-{n}" for n in range(2)]
    with httpx.Client(base_url=server.url, timeout=30) as http:
        tokens: dict[str, str] = {}
        starts: dict[str, str] = {}

        def join(user: str) -> None:
            sent = server.publish(to={"users": [user]}, type="welcome", title="hi")["id"]
            model.join(user)
            model.deliver([user], sent)
            tokens[user] = server.token(user)
            starts[user] = "0"

        for user in users:
            join(user)
        for kind, n in steps:
            if kind == "personal":
                user = users[n % len(users)]
                model.deliver([user], server.publish(to={"users": [user]}, type="p", title="personal")["id"])
            elif kind == "broadcast":
                # Every user Herald knows now; this run's users are the ones the model follows.
                model.deliver(list(model.inboxes), server.publish(to={"all": True}, type="b", title="all")["id"])
                time.sleep(0.002)  # a user made in the same millisecond counts as known (broadcasts.py)
            elif kind == "join":
                users.append(f"bm{run}-{len(users)}")
                join(users[-1])
            elif kind == "read":
                user = users[n % len(users)]
                ids = sorted(model.inboxes[user])
                item_id = ids[n % len(ids)]
                answer = http.post(f"/api/notifications/{item_id}/read",
                                   headers={"Authorization": f"Bearer {tokens[user]}"})
                assert answer.status_code == 200, answer.text
                model.inboxes[user][item_id] = True
                assert answer.json()["unreadCount"] == sum(not r for r in model.inboxes[user].values())
            elif kind == "read-all":
                user = users[n % len(users)]
                answer = http.post("/api/notifications/read-all", headers={"Authorization": f"Bearer {tokens[user]}"})
                model.inboxes[user] = dict.fromkeys(model.inboxes[user], True)
                assert answer.json() == {"unreadCount": 0}
            else:
                user = users[n % len(users)]
                page = http.get("/api/notifications", headers={"Authorization": f"Bearer {tokens[user]}"}).json()
                assert page["unreadCount"] == sum(not r for r in model.inboxes[user].values())
        for user in users:
            expected = model.inboxes[user]
            backwards = all_pages(http, tokens[user])
            assert sorted(item["id"] for item in backwards) == sorted(expected), "each item once, none missing"
            assert {item["id"]: item["read"] for item in backwards} == expected
            forwards = all_pages(http, tokens[user], since=starts[user])
            assert sorted(item["id"] for item in forwards) == sorted(expected)
            page = http.get("/api/notifications", headers={"Authorization": f"Bearer {tokens[user]}"}).json()
            assert page["unreadCount"] == sum(not r for r in expected.values())
