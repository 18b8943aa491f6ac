"""A signed-in admin for every console test, on the shared server of each database."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.admin_client import AdminClient, signed_in
from tests.herald_server import HeraldServer


@pytest.fixture
def admin(server: HeraldServer) -> Iterator[AdminClient]:
    client = signed_in(server)
    yield client
    client.close()
