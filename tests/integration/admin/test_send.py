"""Sending from the admin: same rules as the API, errors next to their field, confirmation, escaping."""
from __future__ import annotations

import asyncio
import html
import re

import httpx

from tests.admin_client import AdminClient, inbox_titles
from tests.eventually import eventually
from tests.herald_server import HeraldServer, run_async
from tests.sse_client import open_stream

HOSTILE = "<script>window.__pwned=1</script><b>x</b>"


def compose(**fields: str) -> dict[str, str]:
    return {"target": "users", "type": "announcement", "priority": "medium", "title": "Hello", **fields}


def notification_id(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text[:2000]
    match = re.fullmatch(r"/admin/notifications/([0-9A-Z]{26})\?sent=1", response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def test_sending_to_users_reaches_their_inboxes_and_is_audited(admin: AdminClient, server: HeraldServer,
                                                               user_id: str) -> None:
    other = user_id + "-b"
    sent = notification_id(admin.post("/admin/send", compose(
        users=f"{user_id}, {other}", title="Maintenance tonight", body="From 22:00 UTC", priority="high",
        url="/status", group_key="maintenance", data='{"window": 2}')))

    assert inbox_titles(server, user_id) == ["Maintenance tonight"]
    assert inbox_titles(server, other) == ["Maintenance tonight"]
    detail = admin.get(f"/admin/notifications/{sent}?sent=1")
    assert "Sent to 2 recipients." in detail.text
    assert "alice (admin)" in detail.text
    assert "&#34;window&#34;: 2" in detail.text or '"window": 2' in html.unescape(detail.text)
    audit = admin.get("/admin/audit").text
    assert f"/admin/notifications/{sent}" in audit
    assert f"users {user_id}, {other}" in audit


def test_bad_fields_are_shown_next_to_the_field_and_nothing_is_sent(admin: AdminClient, server: HeraldServer,
                                                                    user_id: str) -> None:
    response = admin.post("/admin/send", compose(
        users=f"{user_id} not/valid", title="", type="has spaces", url="javascript:alert(1)", data="[1, 2]",
        body="x" * 4001))
    assert response.status_code == 422
    page = response.text
    assert "Nothing was sent" in page
    for field in ("users", "title", "type", "data", "body"):
        assert f'id="err-{field}"' in page, field
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true" aria-describedby="err-{field}"', page), field
    assert "has spaces" in page  # what was typed is kept
    assert inbox_titles(server, user_id) == []

    # The URL rule comes from the same check as the API's, once the other fields are right.
    response = admin.post("/admin/send", compose(users=user_id, url="javascript:alert(1)"))
    assert response.status_code == 422
    assert 'id="err-url"' in response.text and "relative path" in response.text
    assert inbox_titles(server, user_id) == []


def test_sending_to_a_group_asks_first_and_states_the_recipient_count(admin: AdminClient, server: HeraldServer,
                                                                      user_id: str) -> None:
    members = [f"{user_id}-{i}" for i in range(3)]
    group = f"g-{user_id}"
    assert httpx.put(f"{server.url}/api/groups/{group}", json={"users": members}, headers=server.headers()).is_success

    form = compose(target="group", group=group, title="Team meeting moved")
    confirm = admin.post("/admin/send", form)
    assert confirm.status_code == 200
    assert "3 recipients" in confirm.text and f"group {group}" in confirm.text
    assert inbox_titles(server, members[0]) == []  # not yet

    back = admin.post("/admin/send", {**_hidden_fields(confirm.text), "action": "edit"})
    assert back.status_code == 200 and "Team meeting moved" in back.text
    assert inbox_titles(server, members[0]) == []

    sent = notification_id(admin.post("/admin/send", {**_hidden_fields(confirm.text), "action": "confirm"}))
    for member in members:
        assert inbox_titles(server, member) == ["Team meeting moved"]
    assert "Sent to 3 recipients." in admin.get(f"/admin/notifications/{sent}?sent=1").text


def test_an_unknown_group_is_an_error_on_the_group_field(admin: AdminClient) -> None:
    response = admin.post("/admin/send", compose(target="group", group="no-such-group-here"))
    assert response.status_code == 422
    assert 'id="err-group"' in response.text and "No group named" in response.text


def test_submitting_the_same_form_twice_sends_once(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    form = compose(users=user_id, title="Only once", idempotency_key=f"form-{user_id}")
    first = notification_id(admin.post("/admin/send", form))
    second = notification_id(admin.post("/admin/send", form))
    assert first == second
    assert inbox_titles(server, user_id) == ["Only once"]


def test_hostile_titles_are_text_in_the_table_the_detail_the_audit_log_and_the_preview(
        admin: AdminClient, user_id: str) -> None:
    sent = notification_id(admin.post("/admin/send", compose(users=user_id, title=HOSTILE, body=HOSTILE)))
    escaped = html.escape(HOSTILE, quote=True)
    for path in ("/admin/notifications", "/admin/notifications/rows", f"/admin/notifications/{sent}", "/admin/audit"):
        page = admin.get(path).text
        assert "<script>window.__pwned" not in page, path
        assert escaped in page or html.escape(HOSTILE, quote=False) in page, path
    preview = admin.post("/admin/send/preview", compose(title=HOSTILE, body=HOSTILE, priority="urgent"))
    assert preview.status_code == 200
    assert "<script>" not in preview.text and "&lt;script&gt;" in preview.text


def test_preview_shows_toast_and_system_notification_by_priority(admin: AdminClient) -> None:
    urgent = admin.post("/admin/send/preview", compose(title="Server down", body="Since 10:02", priority="urgent"))
    assert 'class="preview-toast" data-priority="urgent"' in urgent.text
    assert "stays until dismissed" in urgent.text and 'class="preview-system"' in urgent.text
    low = admin.post("/admin/send/preview", compose(title="Weekly digest", priority="low"))
    assert 'class="preview-system"' not in low.text and "wait in the inbox" in low.text


def test_delivery_counts_show_live_recipients_and_reads(admin: AdminClient, server: HeraldServer,
                                                        user_id: str) -> None:
    offline = user_id + "-offline"

    async def send_while_connected() -> str:
        async with open_stream(server.url, server.token(user_id)) as stream:
            await stream.until("ready")
            response = await asyncio.to_thread(admin.post, "/admin/send",
                                               compose(users=f"{user_id} {offline}", title="Counted"))
            await stream.until("notification")
            # Stay connected until the counts are taken (about a second after the publish).
            sent = notification_id(response)
            await asyncio.to_thread(eventually, lambda: "being counted" not in _delivery(admin, sent))
            return sent

    sent = run_async(send_while_connected())
    fragment = _delivery(admin, sent)
    assert re.search(r'data-k="recipients">2<', fragment)
    assert re.search(r'data-k="live">1<', fragment)
    assert re.search(r'data-k="read">0<', fragment)

    token = server.token(user_id)
    items = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    httpx.post(f"{server.url}/api/notifications/{items[0]['id']}/read", headers={"Authorization": f"Bearer {token}"})
    assert re.search(r'data-k="read">1<', _delivery(admin, sent))
    assert f'Read by <a href="/admin/users?user={user_id}">{user_id}</a>' in _delivery(admin, sent)
    row = re.search(rf'<tr data-id="{sent}">(.*?)</tr>', admin.get("/admin/notifications/rows").text, re.S)
    # recipients, live, pushed, pending, sent, delivered (read proves it), read
    assert row and [int(n) for n in re.findall(r'class="num">(\d+)<', row.group(1))] == [2, 1, 0, 0, 2, 1, 1]


def _delivery(admin: AdminClient, notification_id: str) -> str:
    return admin.get(f"/admin/notifications/{notification_id}/delivery").text


def _hidden_fields(page: str) -> dict[str, str]:
    return {html.unescape(name): html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)
            if name != "_csrf_token"}


def test_sending_too_fast_is_429_with_the_form_kept_and_nothing_sent(fresh_server: HeraldServer,
                                                                      user_id: str) -> None:
    from tests.admin_client import signed_in

    fresh_server.env.update(HERALD_PUBLISH_RATE_PER_SECOND="0.05", HERALD_PUBLISH_BURST="1")
    fresh_server.start()
    console = signed_in(fresh_server, "rate-admin")
    try:
        notification_id(console.post("/admin/send", compose(users=user_id, title="First")))
        refused = console.post("/admin/send", compose(users=user_id, title="Second one"))
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 20
        assert "Publishing too fast" in refused.text
        assert 'value="Second one"' in refused.text  # what was typed is kept, to send again
        assert inbox_titles(fresh_server, user_id) == ["First"]
        # The limit is the admin's own: the API key's bucket is untouched.
        assert fresh_server.publish(to={"users": [user_id]}, type="t", title="via API")["id"]
    finally:
        console.close()
