"""Reading a server's ``/metrics`` the way a Prometheus scrape would."""
from __future__ import annotations

import re
import time

import httpx

from tests.herald_server import HeraldServer


def metric(server: HeraldServer, name: str, labels: str = "") -> float:
    """The value of one sample (``labels`` as written, e.g. ``{transport="sse"}``); 0 when absent."""
    text = httpx.get(server.url + "/metrics").text
    match = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def wait_metric(server: HeraldServer, name: str, above: float, timeout: float = 5.0) -> float:
    """Poll until the sample is above ``above``; returns it."""
    deadline = time.monotonic() + timeout
    while (value := metric(server, name)) <= above:
        assert time.monotonic() < deadline, f"{name} stayed at {value}"
        time.sleep(0.05)
    return value
