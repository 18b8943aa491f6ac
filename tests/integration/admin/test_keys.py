"""API keys made in the admin: shown once, publish like environment keys, last use, revoke."""
from __future__ import annotations

import re

import httpx

from herald.api_keys import fingerprint
from tests.admin_client import AdminClient
from tests.eventually import eventually
from tests.herald_server import HeraldServer


def create_key(admin: AdminClient, name: str) -> tuple[str, str]:
    response = admin.post("/admin/keys", {"name": name})
    assert response.status_code == 201, response.text[:500]
    key = re.search(r'<code class="secret" id="new-key">([^<]+)</code>', response.text).group(1)
    key_id = re.search(rf'<tr data-key="([0-9A-Z]+)">\s*<td>{re.escape(name)}</td>', response.text).group(1)
    return key, key_id


def publish(server: HeraldServer, key: str, user_id: str) -> httpx.Response:
    return httpx.post(server.url + "/api/publish", headers={"Authorization": f"Bearer {key}"},
                      json={"to": {"users": [user_id]}, "type": "t", "title": "from a console key"}, timeout=10)


def test_a_new_key_is_shown_once_and_publishes(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    key, key_id = create_key(admin, f"billing-{user_id}")
    assert key.startswith("hk_") and len(key) > 40
    listing = admin.get("/admin/keys").text
    assert key not in listing
    assert key[:10] in listing  # the prefix tells keys apart

    assert publish(server, key, user_id).status_code == 202
    row = lambda: re.search(rf'<tr data-key="{key_id}">.*?</tr>', admin.get("/admin/keys").text, re.S).group(0)  # noqa: E731
    assert eventually(lambda: "never" not in row())
    assert "ago" in row()
    # Sends by the key are shown under its name.
    assert f"key billing-{user_id}" in admin.get("/admin/notifications").text


def test_a_revoked_key_is_refused(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    key, key_id = create_key(admin, f"temp-{user_id}")
    assert publish(server, key, user_id).status_code == 202
    assert admin.post(f"/admin/keys/{key_id}/revoke").status_code == 303
    refused = publish(server, key, user_id)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    assert "revoked" in re.search(rf'<tr data-key="{key_id}" class="revoked">.*?</tr>', admin.get("/admin/keys").text,
                                  re.S).group(0)
    assert admin.post(f"/admin/keys/{key_id}/revoke").status_code == 404
    audit = admin.get("/admin/audit").text
    assert "key.create" in audit and "key.revoke" in audit and f"temp-{user_id}" in audit


def test_keys_that_look_alike_are_refused(server: HeraldServer, user_id: str) -> None:
    assert publish(server, "hk_" + "A" * 43, user_id).status_code == 401
    assert publish(server, "not-a-key", user_id).status_code == 401


def test_environment_keys_are_listed_by_fingerprint_without_revoke(admin: AdminClient, server: HeraldServer) -> None:
    page = admin.get("/admin/keys").text
    assert server.api_key not in page
    assert fingerprint(server.api_key) in page
    assert "HERALD_API_KEYS #1" in page


def test_a_key_needs_a_name(admin: AdminClient) -> None:
    response = admin.post("/admin/keys", {"name": "  "})
    assert response.status_code == 422
    assert 'id="err-name"' in response.text
