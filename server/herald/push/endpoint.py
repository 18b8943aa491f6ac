"""Which push endpoints Herald will POST to (design section 6), checked twice.

A subscription's endpoint is a URL chosen by whoever calls the API, and Herald
later sends requests to it: a server-side request forgery vector. So:

- on subscribe, ``check_endpoint`` accepts only ``https`` URLs on the known
  push-service hosts (``HERALD_PUSH_ENDPOINT_HOSTS``, or a subdomain of one),
  plus, in development only, loopback URLs (``http`` too) for tests;
  private, link-local, metadata, multicast and unspecified addresses are
  always refused;
- on send, the same check runs again (the configuration may have changed),
  ``SafeResolver`` drops any DNS answer in a refused range (a known host that
  resolves to 10.0.0.5 today is DNS rebinding, not a push service), and
  redirects are not followed.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from herald.errors import invalid_request

MAX_ENDPOINT_LENGTH = 2048

# Cloud instance-metadata services, refused whatever range they sit in.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal"})
# NAT64 (RFC 6052) and the deprecated IPv4-compatible form (RFC 4291 2.5.5.1) carry an IPv4
# address in their low 32 bits; 6to4 (2002::/16, RFC 3056) in bits 16-47.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class EndpointRefused(OSError):
    """A push endpoint (or what its name resolves to) is not one Herald may contact."""


def address_kind(ip: IPAddress) -> str:
    """``public``, ``loopback``, ``metadata`` or ``private`` (link-local, private, multicast, reserved...)."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip in NAT64 or (ip in IPV4_COMPATIBLE and not (ip.is_loopback or ip.is_unspecified)):
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_loopback:
        return "loopback"
    # ``is_global`` is False for RFC 1918, link-local, CGNAT, documentation and
    # reserved ranges; multicast and unspecified are spelled out because some
    # multicast ranges count as global.
    if ip.is_multicast or ip.is_unspecified or ip.is_link_local or ip.is_private or not ip.is_global:
        return "private"
    return "public"


def address_allowed(ip: IPAddress, allow_loopback: bool) -> bool:
    kind = address_kind(ip)
    return kind == "public" or (kind == "loopback" and allow_loopback)


def _is_loopback_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def check_url(url: str, *, production: bool, field: str = "endpoint") -> bool:
    """Raise a 400 ``invalid_request`` unless ``url`` is an http(s) URL Herald may contact at all; True if loopback.

    Shared by push endpoints and webhook URLs (herald/webhooks/): private, link-local, metadata,
    multicast and unspecified addresses are refused, loopback in production only.
    """
    name = f'"{field}"'
    if len(url) > MAX_ENDPOINT_LENGTH:
        raise invalid_request(f"{name} must be at most {MAX_ENDPOINT_LENGTH} characters.")
    if not url.isascii() or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise invalid_request(f"{name} must be an ASCII URL without spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise invalid_request(f"{name} is not a valid URL.") from None
    host = (parts.hostname or "").rstrip(".")
    if parts.scheme not in ("https", "http") or not host:
        raise invalid_request(f"{name} must be an absolute https URL.")
    if parts.username is not None or parts.password is not None or parts.fragment:
        raise invalid_request(f"{name} must not carry credentials or a fragment.")
    if port == 0:
        raise invalid_request(f"{name} has an invalid port.")
    try:
        ip: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        kind = address_kind(ip)
        if kind in ("private", "metadata"):
            raise invalid_request(f"{name} points at a {kind} address, which Herald never contacts.")
        loopback = kind == "loopback"
    else:
        labels = host.split(".")
        # Real DNS names only: no numeric last label, so "2130706433" or "0x7f.1" cannot smuggle an IP in.
        if not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit() or labels[-1].startswith("0x"):
            raise invalid_request(f"{name} must name its host with a DNS name or an IP address.")
        if host in METADATA_HOSTS:
            raise invalid_request(f"{name} points at a metadata service, which Herald never contacts.")
        loopback = _is_loopback_name(host)
    if loopback:
        if production:
            raise invalid_request(f"{name} points at this machine, which is allowed in development only.")
        return True
    if parts.scheme != "https":
        raise invalid_request(f"{name} must use https.")
    return False


def check_endpoint(endpoint: str, *, production: bool, hosts: tuple[str, ...]) -> None:
    """Raise a 400 ``invalid_request`` unless Herald may POST pushes to ``endpoint``."""
    if check_url(endpoint, production=production):
        return
    host = (urlsplit(endpoint).hostname or "").rstrip(".")
    if not any(host == known or host.endswith("." + known) for known in hosts):
        raise invalid_request(f'"endpoint" host {host!r} is not a known push service (HERALD_PUSH_ENDPOINT_HOSTS).')


class SafeResolver(AbstractResolver):
    """Resolves like aiohttp's default, minus every address a push may not reach."""

    def __init__(self, allow_loopback: bool) -> None:
        self._inner = ThreadedResolver()
        self._allow_loopback = allow_loopback

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        kept = [a for a in answers if address_allowed(ipaddress.ip_address(a["host"].split("%")[0]), self._allow_loopback)]
        if not kept:
            raise EndpointRefused(f"{host} resolves only to addresses Herald never contacts")
        return kept

    async def close(self) -> None:
        await self._inner.close()


async def refuse_redirect(*_: Any) -> None:
    """aiohttp trace hook: a push service answers 201, it never redirects; a redirect is an SSRF attempt."""
    raise EndpointRefused("the push endpoint answered with a redirect")


def is_refusal(exc: BaseException) -> bool:
    """Whether a failed request failed because ``SafeResolver`` (or a redirect) refused its address."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, EndpointRefused) or isinstance(getattr(seen, "os_error", None), EndpointRefused):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
