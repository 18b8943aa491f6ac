"""New subscriber connections per client address and per node: 429 (WebSocket: 4029) with a time to retry."""
from __future__ import annotations

import ipaddress

from herald.admission import bucket_of


def test_an_ipv6_client_is_bucketed_by_its_64_block() -> None:
    a, b = ipaddress.ip_address("2001:db8:1:2:aaaa::1"), ipaddress.ip_address("2001:db8:1:2:ffff::9")
    assert bucket_of(a) == bucket_of(b) == "2001:db8:1:2::/64"
    assert bucket_of(ipaddress.ip_address("2001:db8:1:3::1")) != bucket_of(a)
    assert bucket_of(ipaddress.ip_address("::ffff:198.51.100.3")) == "198.51.100.3"
    assert bucket_of(ipaddress.ip_address("198.51.100.3")) == "198.51.100.3"
    assert bucket_of(None) == "unknown"


