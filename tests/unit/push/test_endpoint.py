"""Send-time SSRF defences: address classes and the resolver that drops refused answers."""
from __future__ import annotations

import ipaddress

import pytest

from herald.errors import HeraldError
from herald.push.endpoint import EndpointRefused, SafeResolver, address_kind, check_endpoint
from herald.settings import DEFAULT_PUSH_HOSTS


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
    ("::127.0.0.1", "loopback"),  # IPv4-compatible (deprecated) spellings carry the IPv4 address too
    ("::a00:1", "private"),
    ("2002:a00:1::", "private"),  # 6to4 of 10.0.0.1
    ("2002:7f00:1::", "loopback"),
    ("2002:a9fe:a9fe::", "metadata"),
    ("2002:8efa:4a6a::", "public"),
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


# Spellings of addresses that URL parsers, resolvers and kernels read in more than one way.
REFUSED_FORMS = [
    "https://0177.0.0.1/x",  # octal 127.0.0.1
    "https://127.1/x",  # short form
    "https://017700000001/x",  # octal, one number
    "https://0x7f000001/x",  # hexadecimal, one number
    "https://0/x",
    "https://[::ffff:a00:1]/x",  # mapped 10.0.0.1, in hex
    "https://[fe80::1%25eth0]/x",  # link-local with a zone
    "https://[::a00:1]/x",  # IPv4-compatible 10.0.0.1
    "https://[2002:a9fe:a9fe::]/x",  # 6to4 of the metadata address
    "https://[2001:db8::1]/x",  # documentation range
    "https://192.0.0.170/x",  # IETF protocol assignments
    "https://198.18.0.1/x",  # benchmarking
    "https://fcm.googleapis.com@evil.example/x",  # the host is evil.example
    "https://evil.example#@fcm.googleapis.com/x",
    "https://evil.example\\@fcm.googleapis.com/x",
    "https://fcm.googleapis.com%2eevil.example/x",
    "https://metadata.google.internal./x",
    "https://fcm.googleapis.com/x\r\nHost: evil",
]
LOOPBACK_FORMS = ["https://[0:0:0:0:0:ffff:7f00:1]/x", "https://[::127.0.0.1]/x", "https://[64:ff9b::7f00:1]/x",
                  "https://[2002:7f00:1::]/x", "http://localhost./x", "https://LOCALHOST/x", "https://[::1]/x"]


@pytest.mark.parametrize("endpoint", REFUSED_FORMS)
@pytest.mark.parametrize("production", [True, False])
def test_disguised_addresses_are_refused_in_every_mode(endpoint: str, production: bool) -> None:
    with pytest.raises(HeraldError) as refused:
        check_endpoint(endpoint, production=production, hosts=DEFAULT_PUSH_HOSTS)
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")


@pytest.mark.parametrize("endpoint", LOOPBACK_FORMS)
def test_every_spelling_of_this_machine_is_refused_in_production_only(endpoint: str) -> None:
    with pytest.raises(HeraldError, match="this machine"):
        check_endpoint(endpoint, production=True, hosts=DEFAULT_PUSH_HOSTS)
    check_endpoint(endpoint, production=False, hosts=DEFAULT_PUSH_HOSTS)  # development: tests push to loopback


class _Answers:
    """Stands in for the system resolver: whatever DNS says this name is today."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(self, host: str, port: int = 0, family: int = 0) -> list[dict]:
        return [{"hostname": host, "host": h, "port": port, "family": family, "proto": 0, "flags": 0} for h in self.hosts]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("answers", [("10.0.0.5",), ("169.254.169.254",), ("::ffff:169.254.169.254",),
                                     ("fe80::1%eth0",), ("100.100.100.200",), ("127.0.0.1",), ("::127.0.0.1",)])
async def test_a_known_host_that_resolves_to_a_refused_address_is_not_contacted(answers: tuple[str, ...]) -> None:
    # DNS rebinding: fcm.googleapis.com passed check_endpoint, and now resolves somewhere else.
    resolver = SafeResolver(allow_loopback=False)
    resolver._inner = _Answers(*answers)  # type: ignore[assignment]
    with pytest.raises(EndpointRefused):
        await resolver.resolve("fcm.googleapis.com", 443)


async def test_refused_answers_are_dropped_and_public_ones_kept() -> None:
    resolver = SafeResolver(allow_loopback=False)
    resolver._inner = _Answers("10.0.0.5", "142.250.74.106", "fd00::1", "2a00:1450:4001:80b::200a")  # type: ignore[assignment]
    kept = await resolver.resolve("fcm.googleapis.com", 443)
    assert [a["host"] for a in kept] == ["142.250.74.106", "2a00:1450:4001:80b::200a"]
