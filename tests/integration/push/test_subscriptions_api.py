"""The Web Push API (design section 6): VAPID key, subscribe, unsubscribe, endpoint checks, ``herald vapid``."""
from __future__ import annotations

import base64
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.herald_server import HeraldServer

FCM = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def subscription(endpoint: str, **keys: str) -> dict[str, Any]:
    """A browser's ``PushSubscription.toJSON()`` with real keys, unless overridden."""
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"endpoint": endpoint, "expirationTime": None,
            "keys": {"p256dh": keys.get("p256dh", b64(point)), "auth": keys.get("auth", b64(os.urandom(16)))}}


def post(herald: HeraldServer, user_id: str, data: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(herald.url + "/api/push/subscriptions", json=data,
                      headers={"Authorization": f"Bearer {herald.token(user_id)}"}, **kwargs)


def delete(herald: HeraldServer, user_id: str, endpoint: str) -> httpx.Response:
    return httpx.request("DELETE", herald.url + "/api/push/subscriptions", json={"endpoint": endpoint},
                         headers={"Authorization": f"Bearer {herald.token(user_id)}"})


def test_vapid_public_key_is_an_uncompressed_p256_point(server: HeraldServer) -> None:
    response = httpx.get(server.url + "/api/push/vapid-public-key")  # no credentials: it is public
    assert response.status_code == 200
    key = response.json()["publicKey"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in key
    ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)  # raises if not on the curve


def test_subscribe_then_unsubscribe(server: HeraldServer, user_id: str) -> None:
    endpoint = f"http://127.0.0.1:9/push/{user_id}"
    created = post(server, user_id, subscription(endpoint))
    assert created.status_code == 201 and created.json() == {"endpoint": endpoint}
    assert post(server, user_id, subscription(endpoint)).status_code == 201  # the browser re-sends: still one
    gone = delete(server, user_id, endpoint)
    assert gone.status_code == 204 and gone.content == b""
    again = delete(server, user_id, endpoint)
    assert again.status_code == 404
    assert again.json() == {"error": "not_found", "message": "No such push subscription for this user."}


def test_a_user_cannot_delete_another_users_subscription(server: HeraldServer, user_id: str) -> None:
    endpoint = f"http://127.0.0.1:9/push/{user_id}-owned"
    assert post(server, user_id, subscription(endpoint)).status_code == 201
    assert delete(server, user_id + "-other", endpoint).status_code == 404
    assert delete(server, user_id, endpoint).status_code == 204


def test_the_last_user_to_subscribe_a_browser_owns_it(server: HeraldServer, user_id: str) -> None:
    endpoint = f"http://127.0.0.1:9/push/{user_id}-shared"
    assert post(server, user_id, subscription(endpoint)).status_code == 201
    assert post(server, user_id + "-next", subscription(endpoint)).status_code == 201
    assert delete(server, user_id, endpoint).status_code == 404
    assert delete(server, user_id + "-next", endpoint).status_code == 204


def test_subscriptions_need_a_subscriber(server: HeraldServer) -> None:
    response = httpx.post(server.url + "/api/push/subscriptions", json=subscription(FCM))
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"
    response = httpx.request("DELETE", server.url + "/api/push/subscriptions", json={"endpoint": FCM})
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


REFUSED_EVERYWHERE = [
    ("http://169.254.169.254/latest/meta-data", "metadata address"),
    ("https://[fd00:ec2::254]/", "metadata address"),
    ("https://metadata.google.internal/computeMetadata/v1/", "metadata service"),
    ("http://[::ffff:169.254.169.254]/", "metadata address"),
    ("https://169.254.10.1/push", "private address"),
    ("https://[fe80::1]/push", "private address"),
    ("https://10.1.2.3/push", "private address"),
    ("https://192.168.1.10/push", "private address"),
    ("https://172.16.0.1/push", "private address"),
    ("https://[fd12:3456::1]/push", "private address"),
    ("https://100.64.0.1/push", "private address"),
    ("https://0.0.0.0/push", "private address"),
    ("https://[::]/push", "private address"),
    ("https://224.0.0.1/push", "private address"),
    ("https://[ff02::1]/push", "private address"),
    ("https://[64:ff9b::a00:1]/push", "private address"),
    ("http://2130706433/push", "DNS name or an IP address"),
    ("http://0x7f.1/push", "DNS name or an IP address"),
    ("https://evil.example/push", "not a known push service"),
    ("https://fcm.googleapis.com.evil.example/push", "not a known push service"),
    ("https://user:pw@fcm.googleapis.com/push", "credentials"),
    ("http://fcm.googleapis.com/fcm/send/x", "must use https"),
    ("ftp://fcm.googleapis.com/x", "absolute https URL"),
    ("/relative/path", "absolute https URL"),
    ("https://fcm.googleapis.com:99999/x", "not a valid URL"),
    ("https://fcm.googleapis.com/" + "a" * 2100, "at most 2048"),
]


@pytest.mark.parametrize(("endpoint", "reason"), REFUSED_EVERYWHERE)
def test_unsafe_endpoints_are_refused(server: HeraldServer, user_id: str, endpoint: str, reason: str) -> None:
    response = post(server, user_id, subscription(endpoint))
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert reason in response.json()["message"]


@pytest.mark.parametrize(("keys", "reason"), [
    ({"p256dh": "not base64!"}, '"keys.p256dh" must be base64url.'),
    ({"p256dh": b64(b"\x04" + b"\x01" * 64)}, '"keys.p256dh" is not a point on the P-256 curve.'),
    ({"p256dh": b64(os.urandom(33))}, '"keys.p256dh" must be a 65-byte uncompressed P-256 point.'),
    ({"auth": b64(os.urandom(8))}, '"keys.auth" must be a 16-byte secret.'),
    ({"auth": "a+b/"}, '"keys.auth" must be base64url.'),
])
def test_bad_keys_are_refused(server: HeraldServer, user_id: str, keys: dict[str, str], reason: str) -> None:
    response = post(server, user_id, subscription("http://127.0.0.1:9/push/k", **keys))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": reason}


def test_malformed_bodies_get_4xx_not_500(server: HeraldServer, user_id: str) -> None:
    headers = {"Authorization": f"Bearer {server.token(user_id)}"}
    url = server.url + "/api/push/subscriptions"
    missing = httpx.post(url, json={"endpoint": FCM}, headers=headers)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    broken = httpx.post(url, content=b"{", headers={**headers, "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"] == "invalid_json"
    form = httpx.post(url, data={"endpoint": FCM}, headers=headers)
    assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"
    wrong_type = httpx.post(url, json={"endpoint": 5, "keys": {}}, headers=headers)
    assert wrong_type.status_code == 400


def test_known_push_services_and_their_subdomains_are_accepted(server: HeraldServer, user_id: str) -> None:
    for endpoint in (FCM, "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
                     "https://web.push.apple.com/QGuQyavXutnMH", "https://db5p.notify.windows.com/w/?token=x"):
        assert post(server, user_id, subscription(endpoint)).status_code == 201, endpoint


def test_production_refuses_loopback_and_accepts_only_known_hosts(fresh_server: HeraldServer) -> None:
    fresh_server.env.update(HERALD_ENV="production", HERALD_PUSH_ENDPOINT_HOSTS="push.example.com")
    fresh_server.start()
    for endpoint in ("http://127.0.0.1:9/push/x", "https://localhost/push/x", "https://[::1]/x", FCM):
        response = post(fresh_server, "prod-user", subscription(endpoint))
        assert response.status_code == 400, endpoint
        assert response.json()["error"] == "invalid_request"
    assert post(fresh_server, "prod-user", subscription("https://eu.push.example.com/s/1")).status_code == 201


def test_vapid_key_survives_restart_and_cli_rotation_replaces_it(fresh_server: HeraldServer) -> None:
    fresh_server.start()
    key = httpx.get(fresh_server.url + "/api/push/vapid-public-key").json()["publicKey"]
    assert (fresh_server.data_dir / "vapid_private_key.pem").stat().st_mode & 0o077 == 0  # owner-only
    assert post(fresh_server, "cli-user", subscription("http://127.0.0.1:9/push/cli")).status_code == 201
    fresh_server.restart()
    assert httpx.get(fresh_server.url + "/api/push/vapid-public-key").json()["publicKey"] == key

    cli = [sys.executable, "-m", "herald.cli", "vapid"]
    printed = subprocess.run(cli, env=fresh_server.env, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == key
    fresh_server.stop()
    rotated = subprocess.run(cli + ["--rotate"], env=fresh_server.env, capture_output=True, text=True, check=True)
    new_key = rotated.stdout.strip()
    assert new_key != key and "1 push subscriptions deleted" in rotated.stderr
    fresh_server.start()
    assert httpx.get(fresh_server.url + "/api/push/vapid-public-key").json()["publicKey"] == new_key
    assert delete(fresh_server, "cli-user", "http://127.0.0.1:9/push/cli").status_code == 404


def test_configured_vapid_key_is_used_and_not_rotated(fresh_server: HeraldServer) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    raw = private.private_numbers().private_value.to_bytes(32, "big")
    public = private.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint)
    fresh_server.env["HERALD_VAPID_PRIVATE_KEY"] = b64(raw)
    fresh_server.start()
    assert httpx.get(fresh_server.url + "/api/push/vapid-public-key").json() == {"publicKey": b64(public)}
    refused = subprocess.run([sys.executable, "-m", "herald.cli", "vapid", "--rotate"], env=fresh_server.env,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "HERALD_VAPID_PRIVATE_KEY" in refused.stderr


@pytest.mark.parametrize(("name", "value"), [
    ("HERALD_PUSH_PRIORITIES", "urgent,critical"),
    ("HERALD_VAPID_SUBJECT", "admin@example.com"),
    ("HERALD_PUSH_MAX_ATTEMPTS", "0"),
])
def test_bad_push_settings_stop_the_server_with_a_clear_message(fresh_server: HeraldServer, name: str, value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "herald.cli", "serve"], env={**fresh_server.env, name: value},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and name in result.stderr
