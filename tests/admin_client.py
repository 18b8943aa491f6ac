"""The admin console as a test sees it: admins made with the real CLI, a client that carries the CSRF token."""
from __future__ import annotations

import re
import subprocess
import sys
from typing import Any

import httpx

from tests.herald_server import HeraldServer

PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')
_created: dict[tuple[str, str], bool] = {}


def create_admin(server: HeraldServer, username: str, password: str = PASSWORD,
                 action: str = "create") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "herald.cli", "admin", action, username, "--password-stdin"],
                          input=password + "\n", env=server.env, capture_output=True, text=True, timeout=120)


def ensure_admin(server: HeraldServer, username: str) -> None:
    if (server.url, username) not in _created:
        result = create_admin(server, username)
        assert result.returncode == 0, result.stderr
        _created[server.url, username] = True


class AdminClient:
    """A browser-like client of /admin: keeps cookies and the CSRF token of the last page."""

    def __init__(self, server: HeraldServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.csrf = ""

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.http.get(path, **kwargs)
        if match := _CSRF.search(response.text):
            self.csrf = match.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, csrf: bool = True, **kwargs: Any) -> httpx.Response:
        if not self.csrf:
            self.get("/admin/login")
        body = {**(data or {}), **({"_csrf_token": self.csrf} if csrf else {})}
        response = self.http.post(path, data=body, **kwargs)
        if match := _CSRF.search(response.text):
            self.csrf = match.group(1)
        return response

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/admin/login")
        return self.post("/admin/login", {"username": username, "password": password})

    def close(self) -> None:
        self.http.close()


def signed_in(server: HeraldServer, username: str = "alice") -> AdminClient:
    ensure_admin(server, username)
    client = AdminClient(server)
    response = client.sign_in(username)
    assert response.status_code == 303, response.text
    return client


def inbox_titles(server: HeraldServer, user_id: str) -> list[str]:
    response = httpx.get(server.url + "/api/notifications",
                         headers={"Authorization": f"Bearer {server.token(user_id)}"}, timeout=10)
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]
