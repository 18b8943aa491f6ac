"""The FCM and APNs providers, configured as in production, for tests that build pushes without a network."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from herald.push.apns import ApnsProvider
from herald.push.fcm import FcmProvider, load_credentials
from herald.settings import load_settings
from tests.fake_fcm import FakeGoogle


@pytest.fixture(scope="module")
def fcm(tmp_path_factory: pytest.TempPathFactory) -> FcmProvider:
    google = FakeGoogle().start()  # only for a real service-account key file; nothing is sent
    try:
        path = google.key_file(tmp_path_factory.mktemp("fcm"))
    finally:
        google.stop()
    settings = load_settings({"HERALD_DATA_DIR": str(path.parent), "HERALD_FCM_CREDENTIALS_FILE": str(path)})
    return FcmProvider(settings, load_credentials(str(path)))


@pytest.fixture(scope="module")
def apns(tmp_path_factory: pytest.TempPathFactory) -> ApnsProvider:
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path_factory.mktemp("apns")), "HERALD_APNS_KEY_FILE": "k.p8",
                              "HERALD_APNS_KEY_ID": "KEY1234567", "HERALD_APNS_TEAM_ID": "TEAM123456",
                              "HERALD_APNS_TOPIC": "com.example.app"})
    return ApnsProvider(settings, ec.generate_private_key(ec.SECP256R1()))
