"""The error catalogue: every refusal is the contract's JSON body, named plainly, and documented in OpenAPI."""
from __future__ import annotations

import json

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


def test_nul_characters_are_refused_with_a_400_and_store_nothing(server: HeraldServer, user_id: str) -> None:
    # PostgreSQL cannot store NUL in text; before this was checked, every one of these was a 500 there.
    for field in ("title", "body", "groupKey", "actor", "idempotencyKey", "url"):
        value = "/x\x00y" if field == "url" else "x\x00y"
        body = {"to": {"users": [user_id]}, "type": "t", "title": "ok", field: value}
        response = httpx.post(server.url + "/api/publish", json=body, headers=server.headers())
        assert response.status_code == 400, (field, response.text)
        assert response.json() == {"error": "invalid_request", "message": f'"{field}" must not contain NUL characters.'}
    listing = httpx.get(server.url + "/api/notifications", headers=auth(server, user_id)).json()
    assert listing["items"] == [] and listing["cursor"] == "0"


def test_nul_characters_in_ids_and_endpoints_are_a_4xx_not_a_500(server: HeraldServer, user_id: str) -> None:
    read = httpx.post(f"{server.url}/api/notifications/a%00b/read", headers=auth(server, user_id))
    assert read.status_code == 404 and read.json()["error"] == "not_found"
    gone = httpx.request("DELETE", server.url + "/api/push/subscriptions", json={"endpoint": "https://x/\x00"},
                         headers=auth(server, user_id))
    # SQLite can look the value up and finds nothing (404); PostgreSQL refuses the value itself (400).
    assert gone.status_code in (400, 404), gone.text
    assert gone.json()["error"] in ("invalid_request", "not_found")


def _error_schemas(document: dict) -> list[tuple[str, str, str, dict]]:
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    found.append((method, path, status, response["content"]["application/json"]["schema"]))
    return found


def test_openapi_documents_the_contract_error_body_for_every_error_status(server: HeraldServer) -> None:
    document = httpx.get(server.url + "/schema/openapi.json").json()
    assert document["components"]["schemas"]["ErrorBody"]["required"] == ["error", "message"]
    errors = _error_schemas(document)
    assert errors, "error responses are documented"
    for method, path, status, schema in errors:
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
    assert '"detail"' not in json.dumps(document), "Litestar's own error body is never sent, so never documented"
    statuses = {(method, path): set(op) for method, path, op in
                ((m, p, o["responses"]) for p, ops in document["paths"].items() for m, o in ops.items())}
    assert {"400", "401", "404", "413", "415", "503"} <= statuses["post", "/api/publish"]
    assert {"400", "401", "503"} <= statuses["get", "/api/notifications/stream"]
    assert "401" in statuses["post", "/api/session"] and "503" in statuses["get", "/readyz"]
    assert statuses["get", "/healthz"] == {"200"}


def test_openapi_describes_the_bodies_that_are_sent(server: HeraldServer, user_id: str) -> None:
    document = httpx.get(server.url + "/schema/openapi.json").json()
    sign_out = document["paths"]["/api/session"]["delete"]["responses"]["204"]
    assert "content" not in sign_out
    assert httpx.delete(server.url + "/api/session").content == b""
    poll = document["paths"]["/api/notifications/poll"]["get"]["responses"]["200"]["content"]["application/json"]
    assert poll["schema"] == {"$ref": "#/components/schemas/PollAnswer"}
    answer = httpx.get(server.url + "/api/notifications/poll", params={"timeout": "0"}, headers=auth(server, user_id))
    required = document["components"]["schemas"]["PollAnswer"]["required"]
    assert sorted(answer.json()) == sorted(required)


