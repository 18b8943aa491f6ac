"""Admin sign-in, sessions, CSRF and the login throttle, against a real server."""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from herald.app import create_app
from herald.settings import load_settings
from tests.admin_client import PASSWORD, AdminClient, create_admin, ensure_admin, signed_in
from tests.herald_server import HeraldServer


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    """A server of this module's own: the throttle's per-address counts must not leak into other tests."""
    herald = HeraldServer(tmp_path_factory.mktemp("admin-auth")).start()
    yield herald
    herald.stop()


def admin_routes(tmp_path: Path) -> list[tuple[str, str]]:
    with warnings.catch_warnings():  # building the app warns about Litestar 3 deprecations; not ours to test
        warnings.simplefilter("ignore")
        app = create_app(load_settings({"HERALD_DATA_DIR": str(tmp_path)}))
    routes = []
    for route in app.routes:
        if not route.path.startswith("/admin"):
            continue
        for method in sorted(getattr(route, "methods", ())):
            if method in ("GET", "POST"):
                routes.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return routes


def test_every_admin_page_and_action_needs_a_session(private: HeraldServer, tmp_path: Path) -> None:
    client = AdminClient(private)
    client.get("/admin/login")  # a valid CSRF token, so only the missing session can refuse
    routes = admin_routes(tmp_path)
    assert len(routes) > 20
    for method, path in routes:
        if path == "/admin/login":
            continue
        if method == "GET":
            response = client.get(path)
            assert response.status_code == 303, (method, path)
            assert response.headers["location"].startswith("/admin/login"), (method, path)
        else:
            response = client.post(path, {"name": "k", "title": "t", "users": "u1"})
            assert response.status_code == 401, (method, path, response.text[:200])
            assert "Sign in" in response.text
    # Nothing was created on the way.
    admin = signed_in(private, "auditor")
    assert "Nothing recorded yet" not in admin.get("/admin/audit").text  # only the sign-in itself
    assert "key.create" not in admin.get("/admin/audit").text
    assert 'data-key="' not in admin.get("/admin/keys").text


def test_htmx_requests_without_a_session_are_sent_to_the_sign_in_page(private: HeraldServer) -> None:
    response = httpx.get(private.url + "/admin/notifications/rows", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["hx-redirect"].startswith("/admin/login")


def test_sign_in_sets_a_strict_httponly_cookie_and_sign_out_ends_the_session(private: HeraldServer) -> None:
    ensure_admin(private, "carol")
    client = AdminClient(private)
    response = client.sign_in("carol")
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("herald_admin=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    session = client.http.cookies["herald_admin"]

    page = client.get("/admin/dashboard")
    assert page.status_code == 200
    assert "carol" in page.text
    for header in ("content-security-policy", "x-frame-options", "cache-control"):
        assert header in page.headers
    assert "script-src 'self'" in page.headers["content-security-policy"]

    assert client.post("/admin/logout").status_code == 303
    # The old cookie value is dead on the server, not just cleared in this browser.
    stale = httpx.get(private.url + "/admin/dashboard", cookies={"herald_admin": session})
    assert stale.status_code == 303


def test_wrong_password_and_unknown_user_get_the_same_answer(private: HeraldServer) -> None:
    ensure_admin(private, "dave")
    wrong = AdminClient(private).sign_in("dave", "not the password")
    unknown = AdminClient(private).sign_in("nobody-here", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong username or password." in wrong.text and "Wrong username or password." in unknown.text
    assert "herald_admin=" not in wrong.headers.get("set-cookie", "")


def test_sign_in_is_throttled_after_five_failures_even_with_the_right_password(private: HeraldServer) -> None:
    ensure_admin(private, "erin")
    client = AdminClient(private)
    for _ in range(5):
        assert client.sign_in("erin", "guess " * 3).status_code == 401
    refused = client.sign_in("erin", PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many failed sign-ins" in refused.text
    assert "herald_admin=" not in refused.headers.get("set-cookie", "")
    # Another admin from the same address is not locked out by erin's failures.
    assert AdminClient(private).sign_in("dave").status_code == 303


def test_missing_or_wrong_csrf_token_is_refused_and_changes_nothing(private: HeraldServer) -> None:
    client = signed_in(private, "frank")
    assert client.post("/admin/keys", {"name": "no-token"}, csrf=False).status_code == 403
    refused = client.post("/admin/keys", {"name": "wrong-token", "_csrf_token": "0" * 128}, csrf=False)
    assert refused.status_code == 403
    assert "security token" in refused.text
    # A token from another browser's cookie does not match this one's cookie.
    other = AdminClient(private)
    other.get("/admin/login")
    assert client.post("/admin/keys", {"name": "foreign", "_csrf_token": other.csrf}, csrf=False).status_code == 403
    keys = client.get("/admin/keys").text
    assert "no-token" not in keys and "wrong-token" not in keys and "foreign" not in keys
    # The header htmx sends is accepted like the form field.
    accepted = client.http.post("/admin/keys", data={"name": "by-header"}, headers={"x-csrf-token": client.csrf})
    assert accepted.status_code == 201


def test_the_json_api_needs_no_csrf_token(private: HeraldServer) -> None:
    response = httpx.post(private.url + "/api/publish", headers=private.headers(),
                          json={"to": {"users": ["api-user"]}, "type": "t", "title": "no csrf here"})
    assert response.status_code == 202


def test_cli_refuses_short_passwords_and_taken_names_and_resets_passwords(private: HeraldServer) -> None:
    short = create_admin(private, "gina", "short")
    assert short.returncode == 2 and "at least 12 characters" in short.stderr
    assert create_admin(private, "gina").returncode == 0
    taken = create_admin(private, "gina")
    assert taken.returncode == 1 and "exists" in taken.stderr
    bad_name = create_admin(private, "no spaces please")
    assert bad_name.returncode == 2

    client = AdminClient(private)
    assert client.sign_in("gina").status_code == 303
    assert create_admin(private, "gina", "a brand new password", action="password").returncode == 0
    assert client.get("/admin/dashboard").status_code == 303  # the reset ended the session
    assert AdminClient(private).sign_in("gina", "a brand new password").status_code == 303


def test_after_sign_in_only_admin_pages_are_redirect_targets(private: HeraldServer) -> None:
    ensure_admin(private, "hank")
    client = AdminClient(private)
    client.get("/admin/login")
    response = client.post("/admin/login", {"username": "hank", "password": PASSWORD, "next": "https://evil.test/"})
    assert response.headers["location"] == "/admin/"
    client = AdminClient(private)
    client.get("/admin/login")
    response = client.post("/admin/login", {"username": "hank", "password": PASSWORD, "next": "/admin/keys"})
    assert response.headers["location"] == "/admin/keys"


