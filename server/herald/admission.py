"""Who may open a subscriber connection now: connection rate limits per node and per client address.

Every new SSE stream, WebSocket and long poll takes a token from two buckets
(ratelimit.py): the client address's (``HERALD_CONNECT_ADDRESS_*``), so one
client cannot take a node's capacity, and the node's (``HERALD_CONNECT_*``),
so a reconnect storm after a restart is spread out instead of landing at
once. A refused HTTP request gets 429 with ``Retry-After``; a refused
WebSocket is accepted and closed with 4029 (the dependencies are in ``herald.api.admission``) (browsers cannot read the status of
a refused upgrade; docs/transports.md). Clients back off with jitter.

The client address is the peer that uvicorn reports. ``herald serve`` has
uvicorn take it from ``X-Forwarded-For`` only when the socket peer is one of
``HERALD_TRUSTED_PROXIES`` (read from the right, skipping trusted hops), and
never otherwise, so a client cannot name its own bucket by sending the
header. IPv6 clients are bucketed by their /64, the block one subscriber
usually gets; otherwise each of its 2^64 addresses would be a fresh bucket.

With Redis the node bucket is shared by the workers of one machine (keyed by
host name); without Redis each process has its own.
"""
from __future__ import annotations

import ipaddress
import math
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from herald.ratelimit import Limit, RateLimiter
from herald.settings import Settings

if TYPE_CHECKING:
    from herald.metrics import Metrics


@dataclass(frozen=True)
class Refusal:
    reason: str  # connect_address | connect_node: the metrics label
    retry_after_seconds: int


class Admission:
    def __init__(self, settings: Settings, limiter: RateLimiter, metrics: Metrics) -> None:
        self.limiter = limiter
        self.metrics = metrics
        self.per_address = Limit("connect_address", settings.connect_address_rate_per_second,
                                 settings.connect_address_burst)
        self.per_node = Limit("connect_node", settings.connect_rate_per_second, settings.connect_burst)
        self.node = socket.gethostname()

    async def admit(self, client_address: str | None) -> Refusal | None:
        """Take the tokens for one new connection from this peer address, or say why not (and count the refusal)."""
        # The address first: a client over its own limit does not use up the node's tokens.
        for limit, key in ((self.per_address, bucket_of(_parse(client_address))), (self.per_node, self.node)):
            if not limit.enabled:
                continue
            wait = await self.limiter.hit(limit, key)
            if wait > 0:
                self.metrics.rate_limited.labels(limit.name).inc()
                return Refusal(limit.name, max(1, math.ceil(wait)))
        return None

    def opened(self, transport: str, resuming: bool) -> None:
        """Count an admitted connection, and whether it resumes from a cursor (a reconnect)."""
        self.metrics.connects.labels(transport).inc()
        if resuming:
            self.metrics.reconnects.labels(transport).inc()


def bucket_of(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> str:
    """The address's bucket: itself, or its /64 for IPv6 (an IPv4-mapped IPv6 address is its IPv4)."""
    if address is None:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _parse(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None  # a Unix socket peer, say
