"""Groups and topics in the admin: the same data as /api/groups and /api/topics, every change audited."""
from __future__ import annotations

import httpx

from tests.admin_client import AdminClient
from tests.herald_server import HeraldServer


def api_group(server: HeraldServer, name: str) -> httpx.Response:
    return httpx.get(f"{server.url}/api/groups/{name}", headers=server.headers(), timeout=10)


def test_create_edit_and_delete_a_group(admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    name = f"team-{user_id}"
    created = admin.post("/admin/groups", {"name": name, "members": "ann, bob\ncid"})
    assert created.status_code == 303 and created.headers["location"] == f"/admin/groups/{name}"
    assert api_group(server, name).json()["users"] == ["ann", "bob", "cid"]
    assert "3 members" in admin.get(f"/admin/groups/{name}").text
    assert name in admin.get("/admin/groups").text

    assert admin.post(f"/admin/groups/{name}", {"members": "bob cid dan"}).status_code == 303
    assert api_group(server, name).json()["users"] == ["bob", "cid", "dan"]
    audit = admin.get("/admin/audit").text
    assert "group.create" in audit and "group.update" in audit
    assert "&#34;dan&#34;" in audit or '"dan"' in audit  # who was added
    assert "&#34;ann&#34;" in audit or '"ann"' in audit  # and removed

    assert admin.post(f"/admin/groups/{name}/delete").status_code == 303
    assert api_group(server, name).status_code == 404
    assert "group.delete" in admin.get("/admin/audit").text


def test_group_form_errors_are_inline_and_change_nothing(admin: AdminClient, server: HeraldServer,
                                                         user_id: str) -> None:
    bad = admin.post("/admin/groups", {"name": "has space", "members": "ok not/ok"})
    assert bad.status_code == 422
    assert 'id="err-name"' in bad.text and 'id="err-members"' in bad.text
    name = f"dup-{user_id}"
    assert admin.post("/admin/groups", {"name": name, "members": "x1"}).status_code == 303
    again = admin.post("/admin/groups", {"name": name, "members": "x2"})
    assert again.status_code == 422 and "already a group" in again.text
    assert api_group(server, name).json()["users"] == ["x1"]
    edit = admin.post(f"/admin/groups/{name}", {"members": "x1 bad/id"})
    assert edit.status_code == 422 and 'id="err-members"' in edit.text
    assert api_group(server, name).json()["users"] == ["x1"]


def test_topic_followers_can_be_seen_added_and_removed(admin: AdminClient, server: HeraldServer,
                                                       user_id: str) -> None:
    topic = f"releases-{user_id}"
    assert admin.post("/admin/topics", {"topic": topic, "users": "fay gus"}).status_code == 303
    followers = httpx.get(f"{server.url}/api/topics/{topic}/subscribers", headers=server.headers()).json()["users"]
    assert followers == ["fay", "gus"]
    page = admin.get(f"/admin/topics/{topic}").text
    assert "2 followers" in page and "fay" in page
    assert topic in admin.get("/admin/topics").text

    assert admin.post(f"/admin/topics/{topic}/followers", {"users": "hal"}).status_code == 303
    assert admin.post(f"/admin/topics/{topic}/followers/fay/remove").status_code == 303
    followers = httpx.get(f"{server.url}/api/topics/{topic}/subscribers", headers=server.headers()).json()["users"]
    assert followers == ["gus", "hal"]
    audit = admin.get("/admin/audit").text
    assert "topic.follow" in audit and "topic.unfollow" in audit

    missing = admin.post("/admin/topics", {"topic": topic, "users": ""})
    assert missing.status_code == 422 and 'id="err-users"' in missing.text
