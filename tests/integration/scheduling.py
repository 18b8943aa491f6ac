"""Scheduling publishes for later and looking for them, shared by the scheduled-delivery tests."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from tests.herald_server import HeraldServer


def at(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def schedule(server: HeraldServer, user_id: str, seconds: float, **fields: Any) -> dict[str, Any]:
    answer = httpx.post(server.url + "/api/publish", headers=server.headers(), timeout=10, json={
        "to": {"users": [user_id]}, "type": "reminder", "title": fields.pop("title", "later"),
        "sendAt": at(seconds), **fields})
    assert answer.status_code == 202, answer.text
    return answer.json()


def inbox_ids(server: HeraldServer, user_id: str) -> list[str]:
    answer = httpx.get(server.url + "/api/notifications", headers={"Authorization": f"Bearer {server.token(user_id)}"})
    return [item["id"] for item in answer.json()["items"]]
