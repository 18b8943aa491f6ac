"""What a Web Push carries: the JSON the service worker receives, cut to fit, and the RFC 8030 headers' values.

``fit`` and ``topic_for`` serve every provider: each cuts the body, never the JSON, and collapses by a hashed groupKey.
"""
from __future__ import annotations

import base64
import hashlib
import re
from typing import Any, Callable

import msgspec

# RFC 8030 section 5.3: how eagerly a device should wake up for the message.
URGENCY = {"urgent": "high", "high": "high", "medium": "normal", "low": "low"}
# aes128gcm in one 4096-byte record leaves 3993 bytes of plaintext; some push
# services count the whole body against 4096. Keep a wide margin.
MAX_MESSAGE_BYTES = 3000
DIGEST_TAG = "herald:digest"  # the service worker's tag (groupKey) and, hashed, the push Topic

_encode = msgspec.json.Encoder().encode

# The body's markdown subset as web/herald/format.js reads it: **strong**, *em*, `code`, [label](url).
_MARKS = re.compile(r"\*\*(.{1,1000}?)\*\*|\*([^*\s][^*]{0,999}?)\*|`([^`]{1,1000})`|\[([^\]]{1,500})\]\(([^()\s]{1,2048})\)",
                    re.DOTALL)


def plain(text: str) -> str:
    """The body as a lock screen shows it: marks dropped, a link read as its label."""
    return _MARKS.sub(lambda m: m[3] if m[3] is not None else plain(m[1] or m[2] or m[4]), text)


def collapse_key(item: dict[str, Any]) -> str | None:
    """What a newer push replaces an older one by: the replace key, else the groupKey (never both, wire.py)."""
    return item.get("replaceKey") or item.get("groupKey")


def retract_message(item_ids: list[str]) -> bytes:
    """Tells the service worker to close the shown notifications of these (retracted or expired) items."""
    return _encode({"kind": "retract", "ids": item_ids})


def topic_for(group_key: str) -> str:
    """RFC 8030 ``Topic``: at most 32 base64url characters, so a hash of the groupKey.

    A newer push with the same topic replaces an undelivered older one at the push service.
    """
    return base64.urlsafe_b64encode(hashlib.sha256(group_key.encode()).digest()).decode()[:32]


def push_message(item: dict[str, Any], icon: str) -> bytes:
    """The JSON the service worker receives; ``data`` and then ``body`` are cut to fit one push."""
    icon_url = icon or None
    return fit(item, lambda fitted: _encode({"kind": "notification", "icon": icon_url, "notification": fitted}),
               MAX_MESSAGE_BYTES)


def fit(item: dict[str, Any], build: Callable[[dict[str, Any]], bytes], limit: int) -> bytes:
    """``build(item)`` with a plain-text body, made to fit ``limit`` bytes by dropping ``data``, then cutting ``body``.

    Every provider's size limit is met this way (Web Push here, FCM and APNs in
    their modules): what is cut is the text a person reads, ending in an
    ellipsis. The cut is searched for, not computed, because a character may
    take one to six bytes once escaped and a provider may carry the body twice.
    """
    item = dict(item)
    if item.get("body"):
        item["body"] = plain(item["body"])  # no provider renders markdown; cut the text, not a half mark
    encoded = build(item)
    if len(encoded) <= limit:
        return encoded
    item["data"] = None
    encoded = build(item)
    body = item["body"]
    if len(encoded) <= limit or not body:
        return encoded

    def cut(length: int) -> bytes:
        item["body"] = body[:length] + "\u2026" if length else ""
        return build(item)

    keep, too_long = 0, len(body)  # the longest prefix that fits is in [keep, too_long)
    while too_long - keep > 1:
        middle = (keep + too_long) // 2
        if len(cut(middle)) <= limit:
            keep = middle
        else:
            too_long = middle
    return cut(keep)


def digest_title(count: int) -> str:
    return f"{count} new notification" + ("" if count == 1 else "s")


def away_title(count: int) -> str:
    """The digest at the end of quiet hours (preferences.py)."""
    return f"{count} notification{'' if count == 1 else 's'} while you were away"


def digest_message(unread: int, icon: str, timestamp: int, title: str | None = None) -> bytes:
    """The push that stands for many: an empty ``id``, so a click opens the app and marks nothing read."""
    title = title or digest_title(unread)
    return _encode({"kind": "notification", "icon": icon or None, "notification": {
        "id": "", "type": "herald.digest", "title": title, "body": "", "priority": "medium",
        "timestamp": timestamp, "read": False, "groupKey": DIGEST_TAG, "url": None, "data": None,
        "groupCount": 1, "actors": None}})
