"""A local Web Push service for tests: it checks what a real one checks, and decrypts.

Each subscription is a real P-256 key pair and 16-byte auth secret made here,
as a browser would, with endpoint ``http://127.0.0.1:<port>/push/<id>``. For
every POST the service verifies the VAPID JWT (ES256 signature with the key in
``k=``, which must be the server's public key; ``aud`` = this origin; ``exp``
in the future and at most 24 h away; a ``sub``), decrypts the aes128gcm body
with the subscription's private key, records the RFC 8030 headers, and answers
with the next scripted status (201 when nothing is scripted).
"""
from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import http_ece
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tests.herald_server import HeraldServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Received:
    subscription: str
    status: int
    headers: dict[str, str]
    message: Any
    at: float


@dataclass
class FakeSubscription:
    id: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    def to_json(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives in a browser."""
        public = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}


@dataclass
class FakePushService:
    vapid_public_key: str = ""
    """The key the pushes must be signed with (the server's ``/api/push/vapid-public-key``)."""
    received: list[Received] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    subscriptions: dict[str, FakeSubscription] = field(default_factory=dict)

    def start(self) -> "FakePushService":
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def subscription(self) -> FakeSubscription:
        sub_id = secrets.token_hex(8)
        sub = FakeSubscription(sub_id, f"{self.origin}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()),
                               secrets.token_bytes(16))
        self.subscriptions[sub_id] = sub
        return sub

    def answer(self, sub: FakeSubscription, *statuses: int | tuple[int, dict[str, str]]) -> None:
        """Script the next answers for ``sub``; afterwards it answers 201 again."""
        with self._lock:
            self.scripts[sub.id] = [s if isinstance(s, tuple) else (s, {}) for s in statuses]

    def of(self, sub: FakeSubscription) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.subscription == sub.id]

    def delivered(self, sub: FakeSubscription) -> list[Received]:
        return [r for r in self.of(sub) if r.status == 201]

    def wait(self, sub: FakeSubscription, count: int, timeout: float = 10.0, delivered: bool = False) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.delivered(sub) if delivered else self.of(sub)
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"expected {count} pushes to {sub.id}, got {len(self.of(sub))}; errors: {self.errors}")

    # Called on the server thread.

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str]]:
        sub_id = path.rsplit("/", 1)[-1]
        sub = self.subscriptions.get(sub_id)
        if sub is None or not path.startswith("/push/"):
            return 404, {}
        try:
            self._verify_vapid(headers.get("authorization", ""))
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"Content-Encoding is {headers.get('content-encoding')!r}, not aes128gcm")
            plaintext = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
            message = json.loads(plaintext)
        except Exception as exc:  # noqa: BLE001 - a test failure to report, not a crash of the service
            with self._lock:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            return 400, {}
        with self._lock:
            script = self.scripts.get(sub_id)
            status, extra = script.pop(0) if script else (201, {})
            self.received.append(Received(sub_id, status, headers, message, time.monotonic()))
        return status, extra

    def _verify_vapid(self, authorization: str) -> None:
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"Authorization scheme is {scheme!r}, not vapid")
        fields = dict(part.strip().split("=", 1) for part in params.split(","))
        if fields.get("k") != self.vapid_public_key:
            raise ValueError("k= is not the server's VAPID public key")
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(fields["k"]))
        claims = jwt.decode(fields["t"], key=key, algorithms=["ES256"], audience=self.origin,
                            options={"require": ["exp", "aud", "sub"]})
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("exp is more than 24 hours away")
        if not str(claims["sub"]).startswith(("mailto:", "https://")):
            raise ValueError("sub is not a mailto: or https: URL")


def _handler(service: FakePushService) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra = service.handle(self.path, headers, body)
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    return Handler


def subscribe(herald: "HeraldServer", service: FakePushService, user_id: str) -> FakeSubscription:
    """Register a fresh subscription of ``service`` for ``user_id`` with Herald, as a browser would."""
    sub = service.subscription()
    response = httpx.post(herald.url + "/api/push/subscriptions", json=sub.to_json(),
                          headers={"Authorization": f"Bearer {herald.token(user_id)}"})
    assert response.status_code == 201, response.text
    return sub
