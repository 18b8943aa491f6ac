"""A local APNs for tests: HTTP/2 over TLS (the h2 package on asyncio), verifying what Apple verifies.

- TLS with a certificate from a throwaway CA (``ca_file``: Herald is told to
  trust it); ALPN offers ``h2`` only, and a connection that did not
  negotiate it is closed, as APNs speaks nothing else. ``connections`` counts
  the TLS connections made, to prove the client keeps one open.
- ``POST /3/device/<hex token>``: the provider token (``authorization: bearer``)
  must be an ES256 JWT with ``kid`` the key id, signed by the key's private
  half (checked with the public), ``iss`` the team id, ``iat`` under an hour
  old (``ExpiredProviderToken`` otherwise, or when issued before
  ``expire_tokens_issued_before``); ``apns-topic`` one of the app's bundle
  ids; ``apns-push-type`` alert or background (background: priority 5 and
  ``content-available``); ``apns-priority`` 10, 5 or 1; ``apns-expiration``
  an integer; ``apns-collapse-id`` at most 64 bytes; a JSON payload of at
  most 4096 bytes with an ``aps`` dictionary.
- Answers Apple's documented status and ``{"reason": ...}`` (``BadDeviceToken``,
  ``InvalidProviderToken``, ``PayloadTooLarge``...), or a scripted one per token.
"""
from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import re
import secrets
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded
from h2.exceptions import ProtocolError

TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
BUNDLE_ID = "com.example.herald"


@dataclass
class ApnsReceived:
    token: str
    status: int
    reason: str
    headers: dict[str, str]
    payload: Any
    size: int
    connection: int
    at: float


@dataclass
class FakeApple:
    directory: Path
    topics: tuple[str, ...] = (BUNDLE_ID,)
    received: list[ApnsReceived] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    registered: set[str] = field(default_factory=set)
    scripts: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    connections: int = 0
    refused_connections: int = 0
    expire_tokens_issued_before: float = 0.0
    open: set[asyncio.Transport] = field(default_factory=set)

    def start(self, port: int = 0) -> "FakeApple":
        self._lock = threading.Lock()
        self._signing_key = ec.generate_private_key(ec.SECP256R1())
        self.key_file = self.directory / f"AuthKey_{KEY_ID}.p8"
        self.key_file.write_bytes(self._signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.ca_file, tls = _certificates(self.directory)
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            self._loop.create_server(lambda: _Http2(self), "127.0.0.1", port, ssl=tls))
        self.port = self._server.sockets[0].getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        async def close() -> None:
            self._server.close()
            for transport in list(self.open):  # what Server.close_clients does from Python 3.13 on
                transport.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def restart(self) -> None:
        """Come back on the same port (after ``stop``), with the same keys and records."""
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(self._loop.create_server(
            lambda: _Http2(self), "127.0.0.1", self.port, ssl=_server_context(self.directory)))
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        """What Herald needs to push here."""
        return {"HERALD_APNS_KEY_FILE": str(self.key_file), "HERALD_APNS_KEY_ID": KEY_ID,
                "HERALD_APNS_TEAM_ID": TEAM_ID, "HERALD_APNS_TOPIC": ",".join(self.topics),
                "HERALD_APNS_ENDPOINT": self.url, "HERALD_APNS_CA_FILE": str(self.ca_file)}

    def device(self) -> str:
        token = secrets.token_hex(32)
        with self._lock:
            self.registered.add(token)
        return token

    def answer(self, token: str, *answers: tuple[int, str] | tuple[int, str, dict[str, str]]) -> None:
        """Script the next answers for ``token`` as (status, reason[, headers]); then 200 again."""
        with self._lock:
            self.scripts[token] = [(a[0], a[1], a[2] if len(a) > 2 else {}) for a in answers]  # type: ignore[misc]

    def of(self, token: str) -> list[ApnsReceived]:
        with self._lock:
            return [r for r in self.received if r.token == token]

    def wait(self, token: str, count: int, timeout: float = 10.0, delivered: bool = False) -> list[ApnsReceived]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [r for r in self.of(token) if r.status == 200 or not delivered]
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"expected {count} APNs pushes, got {len(self.of(token))}; errors: {self.errors}")

    # Called on the server's loop.

    def handle(self, connection: int, headers: dict[str, str], body: bytes) -> tuple[int, str, dict[str, str]]:
        path = headers.get(":path", "")
        match = re.fullmatch(r"/3/device/([^/]+)", path)
        if headers.get(":method") != "POST":
            return 405, "MethodNotAllowed", {}
        if match is None:
            return 404, "BadPath", {}
        token = match.group(1)
        status, reason = self._verify(token, headers, body)
        payload: Any = None
        if status == 200:
            payload = json.loads(body)
        with self._lock:
            script = self.scripts.get(token)
            extra: dict[str, str] = {}
            if status != 200:
                if reason != "ExpiredProviderToken":  # that one a test brings about; the rest are Herald's faults
                    self.errors.append(f"{status} {reason}")
            elif script:
                status, reason, extra = script.pop(0)
            elif token not in self.registered:
                status, reason = 400, "BadDeviceToken"
            self.received.append(ApnsReceived(token, status, reason, headers, payload, len(body), connection,
                                              time.monotonic()))
        if status == 410:
            extra = {**extra, "_timestamp": str(int(time.time() * 1000))}
        return status, reason, extra

    def _verify(self, token: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        authorization = headers.get("authorization", "")
        if not authorization.startswith("bearer "):
            return 403, "MissingProviderToken"
        provider_token = authorization[len("bearer "):]
        try:
            if jwt.get_unverified_header(provider_token).get("kid") != KEY_ID:
                return 403, "InvalidProviderToken"
            claims = jwt.decode(provider_token, self._signing_key.public_key(), algorithms=["ES256"],
                                issuer=TEAM_ID, options={"require": ["iss", "iat"], "verify_iat": False})
        except jwt.PyJWTError:
            return 403, "InvalidProviderToken"
        iat = int(claims["iat"])
        if iat < time.time() - 3600 or iat < self.expire_tokens_issued_before:
            return 403, "ExpiredProviderToken"
        if not re.fullmatch(r"[0-9a-f]{64,200}", token):
            return 400, "BadDeviceToken"
        topic = headers.get("apns-topic")
        if not topic:
            return 400, "MissingTopic"
        if topic not in self.topics:
            return 400, "TopicDisallowed"
        push_type = headers.get("apns-push-type")
        if push_type not in ("alert", "background"):
            return 400, "InvalidPushType"
        if headers.get("apns-priority", "10") not in ("10", "5", "1"):
            return 400, "BadPriority"
        if not headers.get("apns-expiration", "0").isdigit():
            return 400, "BadExpirationDate"
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            return 400, "BadCollapseId"
        if not body:
            return 400, "PayloadEmpty"
        if len(body) > 4096:
            return 413, "PayloadTooLarge"
        try:
            aps = json.loads(body)["aps"]
            assert isinstance(aps, dict)
        except (ValueError, KeyError, AssertionError):
            return 400, "BadPayload"  # not one of Apple's reasons: the test reads errors
        if push_type == "background" and (headers.get("apns-priority") != "5" or aps.get("content-available") != 1
                                          or "alert" in aps):
            return 400, "BadPriority"
        return 200, ""


class _Http2(asyncio.Protocol):
    """One TLS connection speaking HTTP/2 server-side (h2's sans-I/O state machine)."""

    def __init__(self, apple: FakeApple) -> None:
        self.apple = apple
        self.h2 = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            self.apple.refused_connections += 1
            transport.close()
            return
        self.apple.connections += 1
        self.apple.open.add(transport)
        self.id = self.apple.connections
        self.transport = transport
        self.h2.initiate_connection()
        transport.write(self.h2.data_to_send())

    def connection_lost(self, exc: Exception | None) -> None:
        self.apple.open.discard(self.transport)  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.transport is None:
            return
        try:
            events = self.h2.receive_data(data)
        except ProtocolError:
            self.transport.write(self.h2.data_to_send())
            self.transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                self._respond(event.stream_id)
            elif isinstance(event, ConnectionTerminated):
                self.transport.close()
        self.transport.write(self.h2.data_to_send())

    def _respond(self, stream_id: int) -> None:
        headers, body = self.streams.pop(stream_id)
        status, reason, extra = self.apple.handle(self.id, headers, bytes(body))
        answer: dict[str, Any] = {}
        if status != 200:
            answer["reason"] = reason
            if "_timestamp" in extra:
                answer["timestamp"] = int(extra.pop("_timestamp"))
        response = [(":status", str(status)), ("apns-id", headers.get("apns-id") or str(uuid.uuid4()).upper()),
                    *extra.items()]
        if not answer:
            self.h2.send_headers(stream_id, response, end_stream=True)
            return
        encoded = json.dumps(answer).encode()
        self.h2.send_headers(stream_id, [*response, ("content-type", "application/json"),
                                         ("content-length", str(len(encoded)))])
        self.h2.send_data(stream_id, encoded, end_stream=True)


def _certificates(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it; returns the CA file and the context."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Herald test APNs CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file = directory / "apns-ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "apns-server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "apns-server.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return ca_file, _server_context(directory)


def _server_context(directory: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(directory / "apns-server.pem", directory / "apns-server.key")
    context.set_alpn_protocols(["h2"])
    return context
