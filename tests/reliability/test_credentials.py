"""Credentials stay where they belong: never in a URL, never in a log, cookies tight, ids not shared.

- A token in a query string is refused everywhere (so a leaked URL, a proxy log or a Referer
  cannot sign anyone in), and the browser code never builds one: the demo session is recorded in
  Chromium by ``tests/e2e/test_hostile_input.py``.
- A production server's log, after every kind of request a product, a browser and an admin make,
  holds none of the API key, tokens, session and admin cookies, CSRF token, admin password,
  signing secret or VAPID private key.
- In production every cookie is ``Secure``, ``HttpOnly`` and ``SameSite``.
- Another user's ids and cursors get 404 or a reset on every transport, and change nothing.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.admin_client import PASSWORD, ensure_admin
from tests.herald_server import SECRET, HeraldServer

ROOT = Path(__file__).resolve().parents[2]
QUERY_CREDENTIALS = ["token", "access_token", "authorization", "api_key", "session", "herald_session"]
# Every query parameter the browser code may put in a URL: the contract's cursors and paging, and the tab
# definitions of the counts (docs/triage.md), not a credential.
ALLOWED_QUERY = {"lastEventId", "since", "before", "limit", "cursor", "timeout", "tabs"}


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    herald = HeraldServer(tmp_path_factory.mktemp("production"), HERALD_ENV="production").start()
    ensure_admin(herald, "ops")
    yield herald
    herald.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class ConsoleOverHttp:
    """The admin console in production, reached over plain HTTP as a TLS-terminating proxy would:
    its cookies are Secure, which httpx (like a browser) would not send back, so they are carried by hand."""

    def __init__(self, server: HeraldServer) -> None:
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.cookies: dict[str, str] = {}
        self.set_cookies: list[str] = []
        self.csrf = ""

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookies.append(header)
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";")[0]
        if match := re.search(r'name="_csrf_token" value="([^"]+)"', response.text):
            self.csrf = match.group(1)
        return response

    def get(self, path: str) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return self._keep(self.http.get(path, headers={"Cookie": cookie}))

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return self._keep(self.http.post(path, data={**data, "_csrf_token": self.csrf}, headers={"Cookie": cookie}))

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        self.get("/admin/login")
        return self.post("/admin/login", {"username": username, "password": password})


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
@pytest.mark.parametrize("name", QUERY_CREDENTIALS)
def test_a_credential_in_the_query_string_is_never_accepted(server: HeraldServer, user_id: str, name: str) -> None:
    token = server.token(user_id)
    for path in ("/api/notifications", "/api/notifications/stream", "/api/notifications/poll"):
        response = httpx.get(f"{server.url}{path}?{name}={token}&timeout=0")
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized"), path
    publish = httpx.post(f"{server.url}/api/publish?{name}={server.api_key}",
                         json={"to": {"users": [user_id]}, "type": "t", "title": "x"})
    assert publish.status_code == 401
    with connect(f"{server.url.replace('http', 'ws')}/api/notifications/ws?{name}={token}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def browser_code() -> dict[Path, str]:
    files = [*ROOT.glob("web/**/*.js"), ROOT / "service_worker" / "sw.js"]
    return {path: path.read_text() for path in files if "vendor" not in path.parts}


def test_the_browser_code_puts_only_cursors_and_paging_in_urls() -> None:
    code = browser_code()
    assert len(code) >= 10
    for path, text in code.items():
        for name in re.findall(r"[?&]([A-Za-z_]+)=", text):
            assert name in ALLOWED_QUERY, f"{path.name} builds a URL with ?{name}="
        for name in re.findall(r"searchParams\.(?:set|append)\(\s*['\"]([^'\"]+)", text):
            assert name in ALLOWED_QUERY, f"{path.name} adds {name} to a URL"
        assert not re.search(r"(?i)[?&](token|key|secret|auth|session)", text), path.name


def test_a_production_server_logs_no_secret(production: HeraldServer) -> None:
    herald = production
    token = herald.token("log-user")
    secrets = {"api key": herald.api_key, "subscriber token": token, "signing secret": SECRET, "admin password": PASSWORD}
    session = httpx.post(herald.url + "/api/session", headers=bearer(token))
    secrets["session cookie"] = session.cookies["herald_session"]
    cookie = {"herald_session": secrets["session cookie"]}
    herald.publish(to={"users": ["log-user"]}, type="t", title="logged?")
    with httpx.Client(base_url=herald.url, cookies=cookie) as browser:
        item = browser.get("/api/notifications").json()["items"][0]["id"]
        browser.post(f"/api/notifications/{item}/read")
        with browser.stream("GET", "/api/notifications/stream") as stream:
            next(stream.iter_lines())
        browser.get("/api/notifications/poll", params={"timeout": "0"})
        browser.post("/api/push/subscriptions", json={"endpoint": "https://fcm.googleapis.com/fcm/send/log-test",
                                                      "keys": {"p256dh": "bad", "auth": "bad"}})
    with connect(herald.url.replace("http", "ws") + "/api/notifications/ws", additional_headers=bearer(token)) as ws:
        ws.send(json.dumps({"type": "resume", "cursor": "0"}))
        ws.recv(timeout=10)
    # Refusals, the kind most likely to log what they refused.
    httpx.get(herald.url + "/api/notifications", headers=bearer(token + "x"))
    httpx.post(herald.url + "/api/publish", headers=bearer(herald.api_key + "x"), json={})
    httpx.post(herald.url + "/api/publish", headers=bearer(herald.api_key), content=b"{broken",
               params={"k": herald.api_key})
    admin = ConsoleOverHttp(herald)
    assert admin.sign_in("ops").status_code == 303
    secrets["admin session cookie"] = admin.cookies["herald_admin"]
    secrets["admin CSRF token"] = admin.csrf
    created = admin.post("/admin/keys", {"name": "logged-key"})
    assert created.status_code == 201, created.text[:500]
    new_key = re.search(r"<code[^>]*>([A-Za-z0-9_\-]{24,})</code>", created.text)
    assert new_key, "the new key is shown once, on the page that made it"
    secrets["admin-made API key"] = new_key.group(1)
    assert ConsoleOverHttp(herald).sign_in("ops", "wrong " + PASSWORD).status_code == 401
    vapid = (herald.data_dir / "vapid_private_key.pem").read_text()
    secrets["VAPID private key"] = "".join(vapid.strip().splitlines()[1:-1])[:40]
    herald.stop()  # everything flushed
    log = herald.log_path.read_text()
    herald.start()
    assert "Uvicorn running" in log, "the log is the server's"
    for name, value in secrets.items():
        assert value and value not in log, f"the {name} is in the server log"


def test_production_cookies_are_secure_httponly_and_samesite(production: HeraldServer) -> None:
    session = httpx.post(production.url + "/api/session", headers=bearer(production.token("cookie-user")))
    flags = {part.strip().lower() for part in session.headers["set-cookie"].split(";")}
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= flags
    admin = ConsoleOverHttp(production)
    assert admin.sign_in("ops").status_code == 303
    assert {header.split("=")[0] for header in admin.set_cookies} == {"herald_admin_csrf", "herald_admin"}
    for header in admin.set_cookies:
        flags = {part.strip().lower() for part in header.split(";")}
        assert {"secure", "httponly", "samesite=strict", "path=/admin"} <= flags, header
    assert httpx.get(production.url + "/").status_code == 404, "no demo page in production"
    demo = httpx.post(production.url + "/api/demo/login", json={"userId": "anyone"})
    assert demo.status_code in (404, 405) and "set-cookie" not in demo.headers, "no demo sign-in in production"


@pytest.mark.parametrize("server", ["sqlite"], indirect=True)
def test_another_users_ids_and_cursors_change_nothing_on_any_transport(server: HeraldServer, user_id: str) -> None:
    victim = user_id + "-victim"
    for i in range(3):
        theirs = server.publish(to={"users": [victim]}, type="t", title=f"private {i}")["id"]
    mine = server.token(user_id)
    with connect(server.url.replace("http", "ws") + "/api/notifications/ws", additional_headers=bearer(mine)) as ws:
        ws.send(json.dumps({"type": "resume", "cursor": "3"}))  # the victim's cursor
        assert json.loads(ws.recv(timeout=10))["type"] == "ready"
        assert json.loads(ws.recv(timeout=10))["type"] == "reset", "a cursor this inbox never issued"
        ws.send(json.dumps({"type": "read", "ids": [theirs]}))
        assert json.loads(ws.recv(timeout=10))["error"] == "not_found"
    poll = httpx.get(server.url + "/api/notifications/poll", params={"cursor": "2", "timeout": "0"}, headers=bearer(mine)).json()
    assert (poll["items"], poll["reset"]) == ([], True)
    listing = httpx.get(server.url + "/api/notifications", headers=bearer(server.token(victim))).json()
    assert listing["unreadCount"] == 3 and all(not item["read"] for item in listing["items"])
