"""Preferences over HTTP on both databases: own only, producer defaults, critical categories, clear 400s,
and what the live event says (``dnd``, ``toast``, ``system``, ``watched``) for each recipient."""
from __future__ import annotations

import asyncio
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.transports import subscribe


def auth(server: HeraldServer, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token(user_id)}"}


def put(server: HeraldServer, user_id: str, body: Any) -> httpx.Response:
    return httpx.put(server.url + "/api/preferences", json=body, headers=auth(server, user_id))


def defaults(server: HeraldServer, categories: dict[str, Any]) -> httpx.Response:
    return httpx.put(server.url + "/api/preferences/defaults", json={"categories": categories},
                     headers={"Authorization": f"Bearer {server.api_key}"})


def category() -> str:
    return f"c{secrets.token_hex(4)}"  # the server is shared: defaults of one test must not meet another's


def test_preferences_start_empty_and_round_trip(server: HeraldServer, user_id: str) -> None:
    empty = httpx.get(server.url + "/api/preferences", headers=auth(server, user_id)).json()
    assert empty == {"timeZone": None, "quietHours": [], "dndUntil": None, "quietUntil": None, "categories": {},
                     "effective": empty["effective"]}
    body = {"timeZone": "Europe/Berlin", "quietHours": [{"days": ["mon", "sun"], "start": "22:00", "end": "07:00"}],
            "categories": {"orders": {"inApp": False, "webPush": False}}}
    answer = put(server, user_id, body)
    assert answer.status_code == 200, answer.text
    again = httpx.get(server.url + "/api/preferences", headers=auth(server, user_id)).json()
    assert again == answer.json()
    assert again["timeZone"] == "Europe/Berlin" and again["quietHours"] == body["quietHours"]
    assert again["categories"] == {"orders": {"inApp": False, "webPush": False}}
    (orders,) = [c for c in again["effective"] if c["category"] == "orders"]
    assert orders == {"category": "orders", "critical": False,
                      "channels": {"inApp": False, "webPush": False, "fcm": True, "apns": True}}
    # Another user sees nothing of it.
    other = httpx.get(server.url + "/api/preferences", headers=auth(server, user_id + "-other")).json()
    assert other["categories"] == {} and other["timeZone"] is None


def test_do_not_disturb_reads_back_as_quiet_until(server: HeraldServer, user_id: str) -> None:
    until = (datetime.now(timezone.utc) + timedelta(hours=1)).replace(microsecond=0)
    answer = put(server, user_id, {"dndUntil": until.isoformat()}).json()
    assert datetime.fromisoformat(answer["quietUntil"]) == until
    assert put(server, user_id, {}).json()["quietUntil"] is None


@pytest.mark.parametrize("body,says", [
    ({"timeZone": "Mars/Olympus"}, "IANA"),
    ({"timeZone": "../../etc/passwd"}, "IANA"),
    ({"timeZone": "x" * 65}, "timeZone"),
    ({"quietHours": [{"days": ["mon"], "start": "24:00", "end": "07:00"}]}, "start"),
    ({"quietHours": [{"days": ["monday"], "start": "22:00", "end": "07:00"}]}, "days"),
    ({"quietHours": [{"days": [], "start": "22:00", "end": "07:00"}]}, "days"),
    ({"quietHours": [{"days": ["mon"], "start": "22:00", "end": "07:00"}] * 15}, "quietHours"),
    ({"categories": {"orders": {"sms": False}}}, "sms"),
    ({"categories": {"orders": {"inApp": "no"}}}, "inApp"),
    ({"categories": {"bad name": {"inApp": False}}}, "categories"),
    ({"dndUntil": "2026-01-01T00:00:00"}, "dndUntil"),
    ({"dndUntil": "2999-01-01T00:00:00Z"}, "dndUntil"),
    ({"colour": "blue"}, "colour"),
])
def test_bad_preferences_get_a_clear_400(server: HeraldServer, user_id: str, body: Any, says: str) -> None:
    answer = put(server, user_id, body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_request" and says in answer.json()["message"]


def test_preferences_need_the_users_own_credentials(server: HeraldServer) -> None:
    assert httpx.get(server.url + "/api/preferences").status_code == 401
    assert httpx.put(server.url + "/api/preferences", json={}).status_code == 401
    # A producer key is not a subscriber token, and a subscriber cannot set the producer's defaults.
    assert httpx.get(server.url + "/api/preferences",
                     headers={"Authorization": f"Bearer {server.api_key}"}).status_code == 401
    assert httpx.put(server.url + "/api/preferences/defaults", json={"categories": {}},
                     headers=auth(server, "someone")).status_code == 401


def test_producer_defaults_apply_and_critical_cannot_be_turned_off(server: HeraldServer, user_id: str) -> None:
    quiet, alarm = category(), category()
    answer = defaults(server, {quiet: {"webPush": False}, alarm: {"critical": True}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["categories"][alarm] == {"critical": True}
    view = httpx.get(server.url + "/api/preferences", headers=auth(server, user_id)).json()
    by_name = {c["category"]: c for c in view["effective"]}
    assert by_name[quiet]["channels"]["webPush"] is False and by_name[quiet]["channels"]["inApp"] is True
    assert by_name[alarm]["critical"] is True
    # The user may turn the default back on, but not a critical category off.
    assert put(server, user_id, {"categories": {quiet: {"webPush": True}}}).status_code == 200
    refused = put(server, user_id, {"categories": {alarm: {"inApp": False}}})
    assert refused.status_code == 400 and "critical" in refused.json()["message"]
    refused = defaults(server, {alarm: {"critical": True, "fcm": False}})
    assert refused.status_code == 400 and "critical" in refused.json()["message"]


def test_presence_reports_are_checked(server: HeraldServer, user_id: str) -> None:
    ok = httpx.post(server.url + "/api/presence", json={"client": "tab-1", "visible": True},
                    headers=auth(server, user_id))
    assert ok.status_code == 204, ok.text
    for body in ({"client": "", "visible": True}, {"client": "a/b", "visible": True},
                 {"client": "x" * 65, "visible": True}, {"client": "t", "visible": "yes"}, {"client": "t", "visible": 0},
                 {"visible": True}):
        answer = httpx.post(server.url + "/api/presence", json=body, headers=auth(server, user_id))
        assert answer.status_code == 400, (body, answer.text)
    assert httpx.post(server.url + "/api/presence", json={"client": "t", "visible": True}).status_code == 401


async def _received(server: HeraldServer, user_id: str, **publish: Any) -> dict[str, Any]:
    async with subscribe("sse", server.url, server.token(user_id)) as stream:
        await stream.until("ready")
        await asyncio.to_thread(server.publish, to={"users": [user_id]}, title="x", **publish)
        return (await stream.until("notification")).data  # type: ignore[no-any-return]


async def test_the_live_event_says_what_the_preferences_allow(server: HeraldServer, user_id: str) -> None:
    off, alarm = category(), category()
    assert defaults(server, {alarm: {"critical": True}}).status_code == 200
    assert put(server, user_id, {"categories": {off: {"inApp": False, "webPush": False}}}).status_code == 200
    plain = await _received(server, user_id, type="order.shipped")
    assert not {"dnd", "toast", "system", "watched"} & set(plain)
    muted = await _received(server, user_id, type="x.y", category=off)
    assert muted["toast"] is False and muted["system"] is False and "dnd" not in muted
    # The category falls back to the type's first segment.
    assert (await _received(server, user_id, type=f"{off}.thing"))["toast"] is False
    until = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert put(server, user_id, {"dndUntil": until}).status_code == 200
    assert (await _received(server, user_id, type="order.shipped"))["dnd"] is True
    assert "dnd" not in await _received(server, user_id, type="order.shipped", priority="urgent")
    assert "dnd" not in await _received(server, user_id, type="x", category=alarm)


async def test_a_visible_tab_spares_the_system_notification(server: HeraldServer, user_id: str) -> None:
    headers = auth(server, user_id)
    presence = server.url + "/api/presence"
    assert httpx.post(presence, json={"client": "t1", "visible": True}, headers=headers).status_code == 204
    # The event names the visible tab, so that the other tabs skip their system notification.
    looking = await _received(server, user_id, type="order.shipped")
    assert looking["watched"] == ["t1"] and "system" not in looking
    assert httpx.post(presence, json={"client": "t1", "visible": False}, headers=headers).status_code == 204
    assert "watched" not in await _received(server, user_id, type="order.shipped")
