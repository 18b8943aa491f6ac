"""The numbers a bench run reports: percentiles, server memory, and the printed report."""
from __future__ import annotations

import os
from typing import Any


def percentile_ms(ordered: list[float], fraction: float, digits: int = 1) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] * 1000, digits)


def server_rss_kb(pid: int) -> int | None:
    """VmRSS of a process and all its descendants, from /proc (Linux); None if there is no such process."""
    if not os.path.exists(f"/proc/{pid}/status"):
        return None
    total, todo, seen = 0, [pid], set()
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        except OSError:
            continue  # it exited meanwhile
    return total


def format_report(report: dict[str, Any], fmt: str) -> str:
    import json

    if fmt == "json":
        return json.dumps(report)
    width = max(len(key) for key in report)
    rows = []
    for key, value in report.items():
        if isinstance(value, float):
            value = f"{value:,.1f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        rows.append(f"{key.ljust(width)}  {value}")
    return "\n".join(rows)
