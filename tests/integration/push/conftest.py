"""The local push service every Web Push test sends to (tests/fake_push_service.py), one per test module."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.fake_push_service import FakePushService


@pytest.fixture(scope="module")
def push_service() -> Iterator[FakePushService]:
    service = FakePushService().start()
    yield service
    service.stop()
