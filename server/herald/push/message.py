"""What a push carries: the JSON the service worker receives, cut to fit, and the RFC 8030 headers' values."""
from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec

# RFC 8030 section 5.3: how eagerly a device should wake up for the message.
URGENCY = {"urgent": "high", "high": "high", "medium": "normal", "low": "low"}
# aes128gcm in one 4096-byte record leaves 3993 bytes of plaintext; some push
# services count the whole body against 4096. Keep a wide margin.
MAX_MESSAGE_BYTES = 3000
DIGEST_TAG = "herald:digest"  # the service worker's tag (groupKey) and, hashed, the push Topic

_encode = msgspec.json.Encoder().encode


def topic_for(group_key: str) -> str:
    """RFC 8030 ``Topic``: at most 32 base64url characters, so a hash of the groupKey.

    A newer push with the same topic replaces an undelivered older one at the push service.
    """
    return base64.urlsafe_b64encode(hashlib.sha256(group_key.encode()).digest()).decode()[:32]


def push_message(item: dict[str, Any], icon: str) -> bytes:
    """The JSON the service worker receives; ``data`` and then ``body`` are cut to fit one push."""
    item = dict(item)
    message = {"kind": "notification", "icon": icon or None, "notification": item}
    encoded = _encode(message)
    if len(encoded) > MAX_MESSAGE_BYTES:
        item["data"] = None
        message["notification"] = item
        encoded = _encode(message)
    while len(encoded) > MAX_MESSAGE_BYTES and item["body"]:
        excess = len(encoded) - MAX_MESSAGE_BYTES
        # Characters may take up to 6 bytes when escaped: cut at least the excess, then re-measure.
        item["body"] = item["body"][: max(0, len(item["body"]) - excess - 1)] + "\u2026"
        if len(item["body"]) == 1:
            item["body"] = ""
        encoded = _encode(message)
    return encoded


def digest_message(unread: int, icon: str, timestamp: int) -> bytes:
    """The push that stands for many: an empty ``id``, so a click opens the app and marks nothing read."""
    title = f"{unread} new notification" + ("" if unread == 1 else "s")
    return _encode({"kind": "notification", "icon": icon or None, "notification": {
        "id": "", "type": "herald.digest", "title": title, "body": "", "priority": "medium",
        "timestamp": timestamp, "read": False, "groupKey": DIGEST_TAG, "url": None, "data": None,
        "groupCount": 1, "actors": None}})
