"""The Scheduled page: pending ones listed soonest first, cancelled with CSRF and audited; Send with a time."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx

from tests.admin_client import AdminClient, inbox_titles
from tests.eventually import eventually
from tests.herald_server import HeraldServer
from tests.integration.scheduling import schedule


def row(page: str, scheduled_id: str) -> str | None:
    found = re.search(rf'<tr data-scheduled="{scheduled_id}">.*?</tr>', page, re.S)
    return found.group(0) if found else None


def status(server: HeraldServer, scheduled_id: str) -> str:
    return httpx.get(f"{server.url}/api/scheduled/{scheduled_id}", headers=server.headers()).json()["status"]


def test_the_page_lists_pending_ones_and_a_cancel_there_means_it_never_arrives(
        admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    later = schedule(server, user_id, 7200, title="<b>Later</b>", replaceKey=f"order:{user_id}")
    sooner = schedule(server, user_id, 3600, title="Sooner")
    page = admin.get("/admin/scheduled").text
    listed = row(page, later["id"])
    assert listed is not None and f"order:{user_id}" in listed and f"users {user_id}" in listed
    assert "&lt;b&gt;Later&lt;/b&gt;" in listed and "<b>Later" not in listed, "titles are text"
    assert page.index(sooner["id"]) < page.index(later["id"]), "soonest first"

    refused = admin.post(f"/admin/scheduled/{later['id']}/cancel", csrf=False)
    assert refused.status_code == 403 and status(server, later["id"]) == "pending"

    cancelled = admin.post(f"/admin/scheduled/{later['id']}/cancel")
    assert cancelled.status_code == 303 and status(server, later["id"]) == "cancelled"
    assert row(admin.get("/admin/scheduled").text, later["id"]) is None
    assert admin.post(f"/admin/scheduled/{later['id']}/cancel").status_code == 404
    audit = admin.get("/admin/audit").text
    assert "scheduled.cancel" in audit and later["id"] in audit
    assert httpx.get(f"{server.url}/api/scheduled/{later['id']}", headers=server.headers()).json()["status"] == \
        "cancelled"


def test_send_with_a_time_schedules_it_and_it_arrives_then(admin: AdminClient, server: HeraldServer,
                                                           user_id: str) -> None:
    when = (datetime.now(timezone.utc) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    response = admin.post("/admin/send", {"target": "users", "users": user_id, "type": "announcement",
                                          "priority": "medium", "title": "Timed", "send_at": when})
    assert response.status_code == 303, response.text[:1000]
    scheduled_id = re.fullmatch(r"/admin/scheduled\?scheduled=([0-9A-Z]{26})", response.headers["location"]).group(1)
    assert inbox_titles(server, user_id) == []
    assert eventually(lambda: inbox_titles(server, user_id) == ["Timed"], timeout=10)
    assert status(server, scheduled_id) == "sent"
    audit = admin.get("/admin/audit").text
    assert scheduled_id in audit, "the schedule is audited with its id"


def test_send_with_a_time_in_the_past_or_garbage_shows_the_error_by_the_field(
        admin: AdminClient, server: HeraldServer, user_id: str) -> None:
    for when, words in (("2020-01-01T00:00", "in the past"), ("next tuesday", "UTC")):
        response = admin.post("/admin/send", {"target": "users", "users": user_id, "type": "announcement",
                                              "priority": "medium", "title": "Never", "send_at": when})
        assert response.status_code == 422
        assert 'id="err-send_at"' in response.text and words in response.text
    assert inbox_titles(server, user_id) == []
