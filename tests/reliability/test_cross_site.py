"""Another site's pages against Herald: CORS, the admin console's CSRF defence, hostile text in every admin view.

- CORS is same-origin by default: no ``Access-Control-Allow-*`` for any foreign Origin, on answers
  and errors alike. Configured, it names exactly the listed origins, never ``*``.
- A cross-site form or htmx POST that carries the admin's cookie but not the CSRF token is refused
  and changes nothing (``test_admin_auth.py`` covers missing, wrong and foreign tokens).
- Titles, bodies, actors, group keys, URLs, data, key names, and what a link can put in the query
  (``?next=``, ``?users=``) show as text in every console page, never as markup.
"""
from __future__ import annotations

import re

import httpx
import pytest
from markupsafe import escape

from tests.admin_client import AdminClient, signed_in
from tests.herald_server import HeraldServer
from tests.sse_client import open_stream

EVIL = "https://evil.example"
HOSTILE = '<img src=x onerror="window.__pwned=1">"><script>window.__pwned=2</script>'
RAW_MARKERS = ("<img src=x", "<script>window.__pwned", 'onerror="window')

sqlite_only = pytest.mark.parametrize("server", ["sqlite"], indirect=True)  # none of this touches the database


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


@sqlite_only
async def test_no_foreign_origin_gets_cors_access_by_default(server: HeraldServer, user_id: str) -> None:
    token = server.token(user_id)
    answers = [
        httpx.get(server.url + "/api/notifications", headers={"Origin": EVIL, "Authorization": f"Bearer {token}"}),
        httpx.get(server.url + "/api/notifications", headers={"Origin": EVIL}),  # a 401
        httpx.options(server.url + "/api/publish", headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"}),
        httpx.options(server.url + "/api/notifications/stream", headers={
            "Origin": EVIL, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "last-event-id"}),
    ]
    async with open_stream(server.url, token) as stream:
        answers.append(stream.response)
    for response in answers:
        assert cors_headers(response) == {}, (response.request.url, response.headers)


def test_configured_cors_names_exactly_the_listed_origins(fresh_server: HeraldServer, user_id: str) -> None:
    fresh_server.env["HERALD_CORS_ORIGINS"] = "https://app.example, https://admin.example"
    fresh_server.start()
    token = fresh_server.token(user_id)
    for origin in ("https://app.example", "https://admin.example"):
        allowed = httpx.get(fresh_server.url + "/api/notifications", headers={"Origin": origin, "Authorization": f"Bearer {token}"})
        assert allowed.headers["access-control-allow-origin"] == origin
        assert allowed.headers["access-control-allow-credentials"] == "true"
        preflight = httpx.options(fresh_server.url + "/api/notifications/stream", headers={
            "Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "last-event-id"})
        assert preflight.status_code in (200, 204)
        assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()
    for origin in (EVIL, "https://app.example.evil.example", "http://app.example", "null"):
        refused = httpx.get(fresh_server.url + "/api/notifications", headers={"Origin": origin, "Authorization": f"Bearer {token}"})
        assert "access-control-allow-origin" not in refused.headers, origin
        preflight = httpx.options(fresh_server.url + "/api/publish", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert preflight.headers.get("access-control-allow-origin") in (None, ""), origin
        assert preflight.headers.get("access-control-allow-origin") != "*"


@sqlite_only
def test_a_cross_site_admin_post_without_the_token_changes_nothing(server: HeraldServer) -> None:
    admin = signed_in(server, "cross-site-admin")
    forged = {"Origin": EVIL, "Referer": EVIL + "/", "Sec-Fetch-Site": "cross-site",
              "Content-Type": "application/x-www-form-urlencoded"}
    assert admin.http.post("/admin/keys", content=b"name=planted-by-form", headers=forged).status_code == 403
    htmx = {**forged, "HX-Request": "true"}
    assert admin.http.post("/admin/keys", content=b"name=planted-by-htmx", headers=htmx).status_code == 403
    sent = admin.http.post("/admin/send", content=b"target=all&type=t&title=planted", headers=forged)
    assert sent.status_code == 403
    keys = admin.get("/admin/keys").text
    assert "planted-by" not in keys
    assert "planted" not in admin.get("/admin/notifications").text
    admin.close()


def admin_pages(admin: AdminClient, notification: str) -> dict[str, str]:
    paths = ["/admin/dashboard", "/admin/dashboard/panel", "/admin/notifications", "/admin/notifications/rows",
             f"/admin/notifications/{notification}", f"/admin/notifications/{notification}/delivery",
             "/admin/groups", "/admin/topics", "/admin/keys", "/admin/audit",
             f"/admin/send?users={HOSTILE}&group={HOSTILE}&topic={HOSTILE}"]
    pages = {path: admin.get(path) for path in paths}
    for path, page in pages.items():
        assert page.status_code == 200, (path, page.status_code)
    return {path: page.text for path, page in pages.items()}


@sqlite_only
def test_hostile_values_are_text_in_every_admin_page(server: HeraldServer, user_id: str) -> None:
    sent = server.publish(to={"users": [user_id]}, type="t", title=HOSTILE, body=HOSTILE, actor=HOSTILE[:100],
                          groupKey=HOSTILE, url='/x" onmouseover="window.__pwned=3', data={"k": HOSTILE, HOSTILE: 1})["id"]
    admin = signed_in(server, "escaping-admin")
    assert admin.post("/admin/keys", {"name": HOSTILE[:100]}).status_code == 201
    refused = admin.post("/admin/send", {"target": "group", "group": HOSTILE, "type": "t", "title": HOSTILE})
    assert refused.status_code == 422  # the form comes back with the typed values and their errors
    pages = {**admin_pages(admin, sent), "refused send form": refused.text}
    for path, text in pages.items():
        for marker in RAW_MARKERS:
            assert marker not in text, f"{path} shows {marker!r} as markup"
        assert 'onmouseover="window' not in text, path
    escaped = str(escape(HOSTILE))  # as Jinja's autoescape writes it
    for path in ("/admin/notifications", f"/admin/notifications/{sent}", "/admin/keys", "refused send form"):
        assert escaped[:40] in pages[path], f"{path} shows the hostile text, as text"
    login = httpx.get(server.url + "/admin/login", params={"next": '"><script>window.__pwned=4</script>'})
    assert "<script>window.__pwned" not in login.text
    assert re.search(r"script-src 'self'", login.headers["content-security-policy"]), "a second line of defence"
    admin.close()
