"""A local Google for tests: an OAuth2 token endpoint and the FCM HTTP v1 send endpoint, both verifying.

- ``POST /token`` is the JWT-bearer grant (RFC 7523) a service account makes:
  the assertion must be RS256-signed by the service account's private key
  (checked with its public half), ``iss`` the account's email, ``aud`` Google's
  token endpoint (as Google requires; the request itself comes here, the key
  file's ``token_uri``), a ``scope`` with firebase.messaging, at most an hour long.
  It answers an access token that expires after ``token_lifetime_seconds``.
- ``POST /v1/projects/{project}/messages:send`` checks the bearer token is
  one issued here and unexpired (401 ``UNAUTHENTICATED`` otherwise), the
  message against FCM's schema (one target, string-only ``data``, Android
  priority and TTL formats, no unknown field, at most 4096 bytes of payload),
  and that the registration token was registered here (404 ``UNREGISTERED``
  otherwise). Errors use Google's documented body:
  ``{"error": {"code", "message", "status", "details": [{"@type": ...FcmError, "errorCode"}]}}``.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

PROJECT = "herald-test"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# The audience Google requires of the assertion, whatever token_uri it is posted to.
GOOGLE_AUDIENCE = "https://oauth2.googleapis.com/token"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
MESSAGE_FIELDS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic",
                  "condition"}
ANDROID_FIELDS = {"collapse_key", "priority", "ttl", "restricted_package_name", "data", "notification",
                  "fcm_options", "direct_boot_ok"}
ANDROID_NOTIFICATION_FIELDS = {"title", "body", "icon", "color", "sound", "tag", "click_action", "channel_id",
                               "ticker", "sticky", "notification_priority", "visibility", "image"}


@dataclass
class FcmReceived:
    token: str
    status: int
    message: dict[str, Any]
    at: float


@dataclass
class FakeGoogle:
    token_lifetime_seconds: int = 3600
    received: list[FcmReceived] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    token_grants: int = 0
    registered: set[str] = field(default_factory=set)
    scripts: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)

    def start(self) -> "FakeGoogle":
        self._lock = threading.Lock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.email = f"herald@{PROJECT}.iam.gserviceaccount.com"
        self._access: dict[str, float] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.origin = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def key_file(self, directory: Path) -> Path:
        """The service-account JSON key Google would give, with this server as its ``token_uri``."""
        pem = self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()).decode()
        path = directory / "service-account.json"
        path.write_text(json.dumps({
            "type": "service_account", "project_id": PROJECT, "private_key_id": secrets.token_hex(20),
            "private_key": pem, "client_email": self.email, "client_id": "1234567890",
            "token_uri": self.origin + "/token", "auth_uri": "https://accounts.google.com/o/oauth2/auth"}))
        return path

    def device(self) -> str:
        """A registration token as FCM gives an app install: ``<instance id>:APA91b<...>``."""
        token = f"{secrets.token_urlsafe(16)}:APA91b{secrets.token_urlsafe(100)}"
        with self._lock:
            self.registered.add(token)
        return token

    def answer(self, token: str, *answers: tuple[int, str] | tuple[int, str, dict[str, str]]) -> None:
        """Script the next answers for ``token`` as (status, FcmError code[, headers]); then 200 again."""
        with self._lock:
            self.scripts[token] = [(a[0], a[1], a[2] if len(a) > 2 else {}) for a in answers]  # type: ignore[misc]

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def of(self, token: str) -> list[FcmReceived]:
        with self._lock:
            return [r for r in self.received if r.token == token]

    def wait(self, token: str, count: int, timeout: float = 10.0, delivered: bool = False) -> list[FcmReceived]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = [r for r in self.of(token) if r.status == 200 or not delivered]
            if len(seen) >= count:
                return seen
            time.sleep(0.02)
        raise AssertionError(f"expected {count} FCM messages, got {len(self.of(token))}; errors: {self.errors}")

    # Called on the server's threads.

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
        try:
            claims = jwt.decode(form.get("assertion", ""), self._key.public_key(), algorithms=["RS256"],
                                audience=GOOGLE_AUDIENCE, options={"require": ["iss", "aud", "iat", "exp"]})
            if claims["iss"] != self.email:
                raise ValueError("iss is not the service account")
            if SCOPE not in str(claims.get("scope", "")).split():
                raise ValueError("scope lacks firebase.messaging")
            if claims["exp"] - claims["iat"] > 3600:
                raise ValueError("assertion longer than an hour")
        except (jwt.PyJWTError, ValueError) as exc:
            with self._lock:
                self.errors.append(f"token endpoint: {exc}")
            return 400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}
        token = "ya29." + secrets.token_urlsafe(32)
        with self._lock:
            self._access[token] = time.time() + self.token_lifetime_seconds
            self.token_grants += 1
        return 200, {"access_token": token, "expires_in": self.token_lifetime_seconds, "token_type": "Bearer"}

    def send(self, path: str, authorization: str, body: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if path != f"/v1/projects/{PROJECT}/messages:send":
            return 404, _error(404, "Requested entity was not found."), {}
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            expiry = self._access.get(token) if scheme == "Bearer" else None
        if expiry is None or expiry < time.time():
            return 401, _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                    "token, login cookie or other valid authentication credential."), {}
        try:
            message = json.loads(body)["message"]
            _check_message(message)
        except (ValueError, KeyError, TypeError) as exc:
            with self._lock:
                self.errors.append(f"messages:send: {exc}")
            return 400, _error(400, str(exc), "INVALID_ARGUMENT"), {}
        device = message["token"]
        with self._lock:
            script = self.scripts.get(device)
            if script:
                status, code, headers = script.pop(0)
            elif device not in self.registered:
                status, code, headers = 404, "UNREGISTERED", {}
            else:
                status, code, headers = 200, "", {}
            self.received.append(FcmReceived(device, status, message, time.monotonic()))
        if status == 200:
            return 200, {"name": f"projects/{PROJECT}/messages/{secrets.token_hex(8)}"}, {}
        return status, _error(status, code.replace("_", " ").capitalize(), code), headers


def _error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    if code:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": code}]
    return {"error": error}


def _check_message(message: dict[str, Any]) -> None:
    unknown = set(message) - MESSAGE_FIELDS
    if unknown:
        raise ValueError(f"Invalid JSON payload received. Unknown name {sorted(unknown)[0]!r} at 'message'")
    if sum(1 for target in ("token", "topic", "condition") if target in message) != 1:
        raise ValueError("exactly one of token, topic or condition is required")
    data = message.get("data", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ValueError("data values must be strings")
    notification = message.get("notification", {})
    if set(notification) - {"title", "body", "image"} or not all(isinstance(v, str) for v in notification.values()):
        raise ValueError("notification takes title, body and image strings")
    android = message.get("android", {})
    if set(android) - ANDROID_FIELDS:
        raise ValueError(f"Unknown name in android: {sorted(set(android) - ANDROID_FIELDS)}")
    if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
        raise ValueError("android.priority must be NORMAL or HIGH")
    if "ttl" in android and not re.fullmatch(r"\d+(\.\d{1,9})?s", android["ttl"]):
        raise ValueError("android.ttl must be a duration such as '3.5s'")
    if set(android.get("notification", {})) - ANDROID_NOTIFICATION_FIELDS:
        raise ValueError("Unknown name in android.notification")
    if len(json.dumps({"data": data, "notification": notification}, ensure_ascii=False,
                      separators=(",", ":")).encode()) > 4096:
        raise ValueError("Message is too big: at most 4096 bytes of payload")


def _handler(google: FakeGoogle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Google's front ends

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers: dict[str, str] = {}
            if self.path == "/token":
                status, answer = google.grant(dict(urllib.parse.parse_qsl(body.decode())))
            else:
                status, answer, headers = google.send(self.path, self.headers.get("authorization", ""), body)
            encoded = json.dumps(answer).encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, *_: Any) -> None:
            pass

    return Handler
