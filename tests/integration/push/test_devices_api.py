"""``/api/devices``: registering phones, with every bad input a clear 400 and no token shown to anyone else."""
from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.herald_server import HeraldServer
from tests.integration.push.support import auth, devices_of, eventually, native_env, register, registered


def test_register_list_and_delete(native: HeraldServer, google: FakeGoogle, apple: FakeApple, user_id: str) -> None:
    android, iphone = google.device(), apple.device()
    created = register(native, user_id, "fcm", android, app="com.example.android")
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("platform", "token", "app", "lastSuccessAt", "lastError")} == {
        "platform": "fcm", "token": android, "app": "com.example.android", "lastSuccessAt": None, "lastError": None}
    assert register(native, user_id, "apns", iphone.upper()).json()["token"] == iphone  # hex in either case
    assert register(native, user_id, "apns", iphone).status_code == 201  # the app registers at every start: one
    assert sorted((d["platform"], d["token"]) for d in devices_of(native, user_id)) == [
        ("apns", iphone), ("fcm", android)]
    gone = httpx.request("DELETE", native.url + "/api/devices", json={"token": android}, headers=auth(native, user_id))
    assert gone.status_code == 204 and gone.content == b""
    again = httpx.request("DELETE", native.url + "/api/devices", json={"token": android}, headers=auth(native, user_id))
    assert again.status_code == 404
    assert again.json() == {"error": "not_found", "message": "No such device for this user."}
    assert [d["token"] for d in devices_of(native, user_id)] == [iphone]


def test_another_user_neither_sees_nor_deletes_a_device_and_the_last_to_register_owns_it(
        native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    token, other = apple.device(), user_id + "-other"
    registered(native, user_id, "apns", token)
    assert devices_of(native, other) == []
    refused = httpx.request("DELETE", native.url + "/api/devices", json={"token": token}, headers=auth(native, other))
    assert refused.status_code == 404
    registered(native, other, "apns", token)  # the phone signed into the other account
    assert devices_of(native, user_id) == [] and [d["token"] for d in devices_of(native, other)] == [token]


def test_a_user_keeps_the_newest_twenty_devices(native: HeraldServer, apple: FakeApple, user_id: str) -> None:
    tokens = [apple.device() for _ in range(21)]
    for token in tokens:
        registered(native, user_id, "apns", token)
    kept = {d["token"] for d in devices_of(native, user_id)}
    assert len(kept) == 20 and tokens[0] not in kept and tokens[-1] in kept


BAD = [
    ({"platform": "gcm", "token": "x" * 100, "app": "a.b"}, '"platform" must be "fcm" or "apns".'),
    ({"platform": "apns", "token": "zz" * 32, "app": "com.example.herald"},
     '"token" must be the APNs device token in hex (64 to 200 hex digits).'),
    ({"platform": "apns", "token": "ab" * 16, "app": "com.example.herald"},
     '"token" must be the APNs device token in hex (64 to 200 hex digits).'),
    ({"platform": "apns", "token": "ab" * 32, "app": "com.other.app"},
     "\"app\" 'com.other.app' is not a bundle id this Herald pushes to (HERALD_APNS_TOPIC)."),
    ({"platform": "fcm", "token": "short:APA91b", "app": "com.example.android"},
     '"token" must be an FCM registration token (64 to 1024 characters of letters, digits, "-", "_" and ":").'),
    ({"platform": "fcm", "token": "a/b" * 40, "app": "com.example.android"},
     '"token" must be an FCM registration token (64 to 1024 characters of letters, digits, "-", "_" and ":").'),
    ({"platform": "fcm", "token": "a" * 100, "app": "../../etc"},
     "\"app\" must be the app's package name or bundle id (letters, digits, \".\", \"-\", \"_\")."),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_registrations_are_400_with_the_rule_broken(native: HeraldServer, user_id: str, body: dict[str, str],
                                                        message: str) -> None:
    response = httpx.post(native.url + "/api/devices", json=body, headers=auth(native, user_id))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": message}
    assert devices_of(native, user_id) == []


def test_malformed_bodies_and_missing_credentials_are_refused(native: HeraldServer, user_id: str) -> None:
    url = native.url + "/api/devices"
    assert httpx.post(url, json={"platform": "fcm", "token": "x" * 100, "app": "a"}).json()["error"] == "unauthorized"
    assert httpx.get(url).status_code == 401
    missing = httpx.post(url, json={"platform": "fcm"}, headers=auth(native, user_id))
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    huge = httpx.post(url, json={"platform": "fcm", "token": "x" * 5000, "app": "a"}, headers=auth(native, user_id))
    assert huge.status_code == 400 and huge.json()["error"] == "invalid_request"
    form = httpx.post(url, content=b"platform=fcm", headers={**auth(native, user_id),
                                                             "Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415 and form.json()["error"] == "unsupported_media_type"


def test_a_platform_that_is_not_configured_is_refused(server: HeraldServer, user_id: str) -> None:
    response = register(server, user_id, "apns", secrets.token_hex(32))
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request",
                               "message": "This Herald does not send apns pushes (HERALD_APNS_KEY_FILE is not configured)."}


def test_tokens_never_reach_the_log_in_full(native: HeraldServer, google: FakeGoogle, apple: FakeApple,
                                            user_id: str) -> None:
    android, iphone = google.device(), apple.device()
    registered(native, user_id, "fcm", android)
    registered(native, user_id, "apns", iphone)
    google.answer(android, (400, "INVALID_ARGUMENT"))  # refusals are logged, naming the device
    apple.answer(iphone, (400, "BadDeviceToken"))
    native.publish(to={"users": [user_id]}, type="t", title="logged refusals")
    eventually(lambda: all(d["lastError"] for d in devices_of(native, user_id)))
    # The log writer takes records from its queue every 20 ms (logs.py): a line may land just after the row.
    wanted = (f"FCM refused a push to {android[:8]}\u2026", f"APNs refused a push to {iphone[:8]}\u2026")
    eventually(lambda: all(line in native.log_path.read_text() for line in wanted))
    log = native.log_path.read_text()
    assert android not in log and iphone not in log


@pytest.mark.parametrize("broken", ["fcm-not-json", "fcm-not-a-service-account", "apns-not-a-key", "apns-rsa-key",
                                    "apns-missing-file"])
def test_a_bad_key_file_stops_the_start_with_a_clear_error(tmp_path: Path, google: FakeGoogle, apple: FakeApple,
                                                           broken: str) -> None:
    env = native_env(google, apple, tmp_path / "keys")
    bad = tmp_path / "bad"
    if broken == "fcm-not-json":
        bad.write_text("{not json")
        env["HERALD_FCM_CREDENTIALS_FILE"], expected = str(bad), "HERALD_FCM_CREDENTIALS_FILE: cannot read"
    elif broken == "fcm-not-a-service-account":
        bad.write_text('{"type": "authorized_user"}')
        env["HERALD_FCM_CREDENTIALS_FILE"], expected = str(bad), "is not a service-account key"
    elif broken == "apns-not-a-key":
        bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
        env["HERALD_APNS_KEY_FILE"], expected = str(bad), "HERALD_APNS_KEY_FILE is not a PEM private key"
    elif broken == "apns-rsa-key":
        bad.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        env["HERALD_APNS_KEY_FILE"], expected = str(bad), "HERALD_APNS_KEY_FILE must be a P-256 (ES256) key"
    else:
        env["HERALD_APNS_KEY_FILE"], expected = str(tmp_path / "absent.p8"), "HERALD_APNS_KEY_FILE: cannot read"
    herald = HeraldServer(tmp_path / "herald", **env)
    result = subprocess.run([sys.executable, "-m", "herald.cli", "serve"], env=herald.env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
