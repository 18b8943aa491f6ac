"""Fixtures of the push tests: the local Web Push service (tests/fake_push_service.py), a local Google
(OAuth2 + FCM v1, tests/fake_fcm.py), a local APNs (HTTP/2 over TLS, tests/fake_apns.py), one of each per
test module, and a Herald configured for FCM and APNs."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.fake_apns import FakeApple
from tests.fake_fcm import FakeGoogle
from tests.fake_push_service import FakePushService
from tests.herald_server import HeraldServer, create_postgres_database, drop_postgres_database
from tests.integration.push.support import FAST_RETRIES, native_env


@pytest.fixture(scope="module")
def push_service() -> Iterator[FakePushService]:
    service = FakePushService().start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    service = FakeGoogle().start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def apple(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeApple]:
    service = FakeApple(tmp_path_factory.mktemp("apple")).start()
    yield service
    service.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def native(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, google: FakeGoogle,
           apple: FakeApple) -> Iterator[HeraldServer]:
    """A Herald with FCM and APNs configured against the local servers, fast retries, on each database."""
    database_url = create_postgres_database() if request.param == "postgres" else ""
    directory = tmp_path_factory.mktemp(f"native-{request.param}")
    herald = HeraldServer(directory / "herald", database_url, **FAST_RETRIES,
                          **native_env(google, apple, directory / "keys")).start()
    yield herald
    herald.stop()
    if database_url:
        drop_postgres_database(database_url)
