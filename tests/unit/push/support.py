"""An inbox item as the push providers are handed one, for the payload tests."""
from __future__ import annotations

from typing import Any


def item(**fields: Any) -> dict[str, Any]:
    base = {"id": "01JD3", "type": "t", "title": "Title", "body": "Body", "priority": "medium", "timestamp": 1,
            "read": False, "groupKey": None, "url": None, "data": None}
    return {**base, **fields}
