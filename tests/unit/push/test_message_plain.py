"""Every push carries the body as plain text: the markdown subset's marks dropped, links read as their label."""
from __future__ import annotations

import json

import pytest

from herald.push.message import plain, push_message


@pytest.mark.parametrize(("body", "shown"), [
    ("Order **#1042** is *on its way*", "Order #1042 is on its way"),
    ("track `TRK-9` at [the carrier](https://carrier.example/t)", "track TRK-9 at the carrier"),
    ("**bold [*em* link](https://x.example/)**", "bold em link"),
    ("[click](javascript:alert)", "click"),
    ("unclosed ** and * and [x](", "unclosed ** and * and [x]("),
    ("<b>tags</b> stay as typed", "<b>tags</b> stay as typed"),
])
def test_marks_are_dropped_and_everything_else_is_kept(body: str, shown: str) -> None:
    assert plain(body) == shown


def test_a_web_push_carries_the_plain_body_and_the_pictures() -> None:
    item = {"id": "1", "type": "t", "title": "T", "body": "**Hi** [you](https://x.example/)", "priority": "high",
            "timestamp": 1, "read": False, "groupKey": None, "url": None, "data": None,
            "avatarUrl": "https://cdn.example/a.png", "imageUrl": "https://cdn.example/i.png"}
    sent = json.loads(push_message(item, ""))["notification"]
    assert sent["body"] == "Hi you"
    assert (sent["avatarUrl"], sent["imageUrl"]) == ("https://cdn.example/a.png", "https://cdn.example/i.png")


def test_a_long_marked_up_body_is_cut_as_text() -> None:
    item = {"id": "1", "type": "t", "title": "T", "body": ("**" + "x" * 900 + "** ") * 4, "priority": "low", "timestamp": 1,
            "read": False, "groupKey": None, "url": None, "data": None}
    body = json.loads(push_message(item, ""))["notification"]["body"]
    assert body.endswith("\u2026") and "*" not in body
