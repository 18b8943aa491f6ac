"""Signing per the Standard Webhooks convention (standardwebhooks.com), written out because it is ten lines.

``webhook-signature`` is ``v1,<base64 HMAC-SHA256>`` over ``"{id}.{timestamp}.{body}"`` with the
secret's bytes (the base64 after ``whsec_``). The timestamp is the attempt's, in seconds, so a
receiver can refuse replays older than a few minutes; the id is the event's, the same on
every attempt, so a receiver can drop a repeat. The tests verify these signatures with the
maintained ``standardwebhooks`` package, an implementation independent of this one.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, b"%s.%d.%s" % (message_id.encode(), timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message_id, timestamp, body)}
