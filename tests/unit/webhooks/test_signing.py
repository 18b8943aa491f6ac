"""Herald's webhook signatures, checked by independent implementations: the standardwebhooks library and a hand HMAC."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from herald.webhooks.signing import new_secret, signature, signed_headers

BODY = b'{"type":"delivered","timestamp":"2026-12-02T18:00:00.000Z","data":{"notificationId":"01J"}}'


def test_the_standardwebhooks_verifier_accepts_herald_signatures() -> None:
    secret = new_secret()
    headers = signed_headers(secret, "msg_01JABC", int(time.time()), BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "delivered"


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + BODY, hashlib.sha256).digest()).decode()
    assert signature(secret, "msg_1", 1700000000, BODY) == "v1," + expected


@pytest.mark.parametrize("change", ["body", "id", "timestamp", "secret"])
def test_any_change_fails_verification(change: str) -> None:
    secret = new_secret()
    now = int(time.time())
    headers = signed_headers(secret, "msg_1", now, BODY)
    body = BODY
    if change == "body":
        body = BODY.replace(b"delivered", b"read")
    elif change == "id":
        headers["webhook-id"] = "msg_2"
    elif change == "timestamp":
        headers["webhook-timestamp"] = str(now - 1)
    else:
        secret = new_secret()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
