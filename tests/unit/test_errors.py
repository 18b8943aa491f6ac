"""The error catalogue: every refusal is the contract's JSON body, named plainly."""
from __future__ import annotations

import httpx

from tests.herald_server import HeraldServer


def auth(server: HeraldServer, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user)}"}


def test_validation_errors_name_the_parameter_as_the_client_sent_it(server: HeraldServer, user_id: str) -> None:
    query = httpx.get(server.url + "/api/notifications", params={"limit": "x"}, headers=auth(server, user_id))
    assert query.status_code == 400
    assert query.json() == {"error": "invalid_request", "message": "query parameter 'limit': Expected `int`, got `str`"}
    path = httpx.get(server.url + "/api/groups/%C2%84", headers=server.headers())
    assert path.status_code == 400
    assert path.json()["message"].startswith("path parameter 'name': "), path.json()
