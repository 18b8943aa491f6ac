"""Send-time SSRF defences: address classes and the resolver that drops refused answers."""
from __future__ import annotations

import ipaddress

import pytest

from herald.push_endpoint import EndpointRefused, SafeResolver, address_kind


@pytest.mark.parametrize(("address", "kind"), [
    ("142.250.74.106", "public"),
    ("2a00:1450:4001:80b::200a", "public"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),  # NAT64 spelling of 169.254.169.254
    ("10.0.0.5", "private"),
    ("172.31.255.255", "private"),
    ("192.168.0.1", "private"),
    ("100.64.1.1", "private"),
    ("169.254.1.1", "private"),
    ("fe80::1", "private"),
    ("fc00::1", "private"),
    ("0.0.0.0", "private"),
    ("::", "private"),
    ("239.255.255.250", "private"),
    ("ff02::1", "private"),
])
def test_address_kinds(address: str, kind: str) -> None:
    assert address_kind(ipaddress.ip_address(address)) == kind


async def test_resolver_refuses_names_that_resolve_to_loopback_in_production() -> None:
    # A push host whose DNS answer is this machine (DNS rebinding) must not be contacted.
    resolver = SafeResolver(allow_loopback=False)
    try:
        with pytest.raises(EndpointRefused):
            await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()


async def test_resolver_keeps_loopback_answers_in_development() -> None:
    resolver = SafeResolver(allow_loopback=True)
    try:
        answers = await resolver.resolve("localhost", 443)
    finally:
        await resolver.close()
    assert answers and all(ipaddress.ip_address(a["host"]).is_loopback for a in answers)
