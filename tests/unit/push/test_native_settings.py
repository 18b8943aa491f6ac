"""Loud errors at start for FCM and APNs settings and key files; each provider off until configured."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from herald.push.apns import load_signing_key
from herald.push.fcm import load_credentials
from herald.push.service import check_native_push
from herald.settings import SettingsError, load_settings

APNS = {"HERALD_APNS_KEY_ID": "KEY1234567", "HERALD_APNS_TEAM_ID": "TEAM123456", "HERALD_APNS_TOPIC": "com.example.app"}


def settings(tmp_path: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings({"HERALD_DATA_DIR": str(tmp_path), **env})


def test_nothing_configured_means_no_native_provider(tmp_path: Path) -> None:
    assert check_native_push(settings(tmp_path)) == []


@pytest.mark.parametrize(("env", "message"), [
    ({"HERALD_APNS_KEY_ID": "KEY1234567"}, "set without HERALD_APNS_KEY_FILE"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_KEY_ID": "short"}, "HERALD_APNS_KEY_ID must be"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_TEAM_ID": "team123456"}, "HERALD_APNS_TEAM_ID must be"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_TOPIC": ""}, "HERALD_APNS_TOPIC"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_TOPIC": "com/evil"}, "is not a bundle id"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_ENDPOINT": "http://127.0.0.1"}, "HTTP/2 over TLS"),
    ({"HERALD_APNS_KEY_FILE": "k.p8", **APNS, "HERALD_APNS_ENVIRONMENT": "staging"}, "apns_environment"),
])
def test_bad_apns_settings_fail_at_load(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        settings(tmp_path, **env)


def test_key_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_signing_key(str(tmp_path / "absent.p8"))
    p384 = tmp_path / "p384.p8"
    p384.write_bytes(ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(SettingsError, match="P-256"):
        load_signing_key(str(p384))
    broken = tmp_path / "sa.json"
    broken.write_text('{"type": "service_account", "project_id": "p", "private_key": "nope", '
                      '"client_email": "a@b", "token_uri": "https://oauth2.googleapis.com/token"}')
    with pytest.raises(SettingsError, match="not a usable service-account key"):
        load_credentials(str(broken))
    broken.write_text('{"type": "service_account"}')
    with pytest.raises(SettingsError, match="project_id"):
        load_credentials(str(broken))


def test_a_bad_ca_bundle_fails_at_start(tmp_path: Path) -> None:
    key = tmp_path / "k.p8"
    key.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (tmp_path / "ca.pem").write_text("not a certificate")
    configured = settings(tmp_path, HERALD_APNS_KEY_FILE=str(key), **APNS, HERALD_APNS_CA_FILE=str(tmp_path / "ca.pem"))
    with pytest.raises(SettingsError, match="HERALD_APNS_CA_FILE"):
        check_native_push(configured)
    ok = settings(tmp_path, HERALD_APNS_KEY_FILE=str(key), **APNS)
    (provider,) = check_native_push(ok)
    assert provider.name == "apns"
