"""Apple Push Notification service: pushes to iOS apps, token-based authentication over HTTP/2.

- The provider token is an ES256 JWT (``kid`` the key id, ``iss`` the team id,
  ``iat``) signed with the ``.p8`` key. Apple refuses one older than an hour
  and answers ``TooManyProviderTokenUpdates`` to one renewed more often than
  every 20 minutes, so it is renewed after ``TOKEN_REFRESH_SECONDS`` (40), and
  once more when APNs answers ``ExpiredProviderToken`` (then the push is tried again).
- HTTP/2 only, as APNs is: httpx with ``http1=False``, one connection kept
  open and shared by every push in flight (streams are multiplexed), as Apple
  asks of providers rather than a connection per push.
- Headers: ``apns-topic`` (the device's bundle id), ``apns-push-type``
  (``alert``, or ``background`` for the silent read update), ``apns-priority``
  (10 for urgent and high, 5 otherwise and always for background),
  ``apns-expiration`` (the push's TTL), ``apns-collapse-id`` from the groupKey.
  ``interruption-level`` is ``time-sensitive`` for urgent items.
- Payloads stay within Apple's 4 KB: the body is cut (message.fit), never the JSON.
- Answers: 200 delivered; 410 (``Unregistered``, ``ExpiredToken``): the token
  is removed; 429, 5xx and a refused provider token: retried; other 4xx:
  failed for good, Apple's reason recorded.
"""
from __future__ import annotations

import logging
import ssl
import threading
import time
from typing import Any, Callable

import httpx
import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from herald.push.devices import token_hint
from herald.push.message import DIGEST_TAG, collapse_key, digest_title, fit, topic_for
from herald.push.provider import Device, Job, Outcome, Prepared, Provider, retry_after
from herald.settings import Settings, SettingsError

log = logging.getLogger("herald.push")

ENDPOINTS = {"production": "https://api.push.apple.com", "sandbox": "https://api.sandbox.push.apple.com"}
MAX_PAYLOAD_BYTES = 4096
TOKEN_REFRESH_SECONDS = 40 * 60
PRIORITY = {"urgent": "10", "high": "10", "medium": "5", "low": "5"}
GONE = frozenset({"Unregistered", "ExpiredToken"})

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def load_signing_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The ``.p8`` key (PKCS#8 PEM, P-256), or a ``SettingsError`` that says what is wrong with it."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise SettingsError(f"HERALD_APNS_KEY_FILE: cannot read {path}: {exc}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"HERALD_APNS_KEY_FILE is not a PEM private key (Apple's .p8 file): {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SettingsError("HERALD_APNS_KEY_FILE must be a P-256 (ES256) key, as Apple's APNs keys are")
    return key


def tls_context(ca_file: str) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"HERALD_APNS_CA_FILE: cannot load {ca_file}: {exc}") from None


class ProviderToken:
    """The JWT every request carries, renewed within Apple's 20-60 minute window."""

    def __init__(self, key: ec.EllipticCurvePrivateKey, key_id: str, team_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.key = key
        self.key_id = key_id
        self.team_id = team_id
        self.clock = clock
        self.minted = 0
        self._token = ""
        self._issued_at = 0.0
        self._lock = threading.Lock()  # minting is synchronous; benchmarks may share one across threads

    def current(self) -> str:
        with self._lock:
            if not self._token or self.clock() - self._issued_at >= TOKEN_REFRESH_SECONDS:
                self._mint()
            return self._token

    def renew(self, stale: str) -> str:
        """APNs called ``stale`` expired: mint a new one, unless a concurrent push already did."""
        with self._lock:
            if self._token == stale:
                self._mint()
            return self._token

    def _mint(self) -> None:
        self._issued_at = self.clock()
        self._token = jwt.encode({"iss": self.team_id, "iat": int(self._issued_at)}, self.key, algorithm="ES256",
                                 headers={"kid": self.key_id})
        self.minted += 1


class ApnsProvider(Provider):
    name = "apns"
    concurrency = 64  # streams in flight on the one connection (APNs allows many more)

    def __init__(self, settings: Settings, key: ec.EllipticCurvePrivateKey | None = None) -> None:
        self.settings = settings
        self.tokens = ProviderToken(key or load_signing_key(settings.apns_key_file), settings.apns_key_id,
                                    settings.apns_team_id)
        self.base_url = (settings.apns_endpoint or ENDPOINTS[settings.apns_environment]).rstrip("/")
        self._tls = tls_context(settings.apns_ca_file)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # http1=False: HTTP/2 or nothing. One connection, kept while idle; a dropped one is reopened on demand.
        self._client = httpx.AsyncClient(
            http1=False, http2=True, verify=self._tls, trust_env=False, timeout=self.settings.push_timeout_seconds,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1, keepalive_expiry=None))

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    def prepare(self, item: dict[str, Any]) -> Prepared:
        group_key = item.get("groupKey")

        def build(fitted: dict[str, Any]) -> bytes:
            aps: dict[str, Any] = {"alert": {"title": fitted["title"], "body": fitted["body"]}, "sound": "default"}
            if group_key:
                aps["thread-id"] = group_key  # the notification centre groups an app's notifications by it
            if fitted["priority"] == "urgent":
                aps["interruption-level"] = "time-sensitive"  # breaks through Focus, when the user allows it
            return _encode({"aps": aps, "herald": {"kind": "notification", "notification": fitted}})

        key = collapse_key(item)
        return Prepared(fit(item, build, MAX_PAYLOAD_BYTES).decode(), PRIORITY[item["priority"]],
                        topic_for(key) if key else None)

    def prepare_digest(self, unread: int, timestamp: int, title: str | None = None) -> Prepared:
        title = title or digest_title(unread)
        return Prepared(_encode({"aps": {"alert": {"title": title}, "thread-id": DIGEST_TAG},
                                 "herald": {"kind": "digest", "unread": unread, "timestamp": timestamp}}).decode(),
                        "5", topic_for(DIGEST_TAG))

    def prepare_read(self, item_ids: list[str], everything: bool) -> Prepared | None:
        # A background push: the app wakes briefly and removes the delivered notifications that were read.
        return Prepared(_encode({"aps": {"content-available": 1},
                                 "herald": {"kind": "read", "ids": item_ids, "all": everything}}).decode(), "5")

    def prepare_retract(self, item_ids: list[str]) -> Prepared | None:
        # A background push, as for reads: the app removes the delivered notifications of those items.
        return Prepared(_encode({"aps": {"content-available": 1},
                                 "herald": {"kind": "retract", "ids": item_ids}}).decode(), "5")

    async def send(self, job: Job) -> Outcome:
        device = job.target
        assert isinstance(device, Device) and self._client is not None
        headers = {"apns-topic": device.app, "apns-priority": job.urgency,
                   "apns-push-type": "alert" if "alert" in _decode(job.payload)["aps"] else "background",
                   "apns-expiration": str(job.expires_at // 1000)}
        if job.topic:
            headers["apns-collapse-id"] = job.topic
        url = f"{self.base_url}/3/device/{device.token}"  # the token is hex (devices.py): nothing to escape
        token = self.tokens.current()
        for renewed in (False, True):
            try:
                response = await self._client.post(url, content=job.payload.encode(),
                                                   headers={**headers, "authorization": f"bearer {token}"})
            except httpx.HTTPError as exc:
                log.info("APNs push to %s failed (%s); will retry", token_hint(device.token), type(exc).__name__)
                return Outcome(job, "retry", reason=type(exc).__name__)
            reason = _reason(response)
            if response.status_code == 403 and reason == "ExpiredProviderToken" and not renewed:
                token = self.tokens.renew(token)
                continue
            return self._classify(job, response.status_code, reason, response.headers.get("retry-after"))
        raise AssertionError("unreachable")

    def _classify(self, job: Job, status: int, reason: str, retry_after_header: str | None) -> Outcome:
        if status == 200:
            return Outcome(job, "delivered")
        detail = f"{status} {reason}"
        if status == 410 or reason in GONE:
            return Outcome(job, "gone", reason=detail)
        # A provider token refused is Herald's credential, not this push: keep it queued while the key is fixed.
        if status == 429 or status >= 500 or reason in ("ExpiredProviderToken", "InvalidProviderToken"):
            return Outcome(job, "retry", retry_after(retry_after_header), reason=detail)
        assert isinstance(job.target, Device)
        log.warning("APNs refused a push to %s: %s", token_hint(job.target.token), detail)
        return Outcome(job, "rejected", reason=detail)


def _reason(response: httpx.Response) -> str:
    """Apple's ``{"reason": "..."}``; empty on success."""
    if response.status_code == 200:
        return ""
    try:
        body = response.json()
    except ValueError:
        return "?"
    return str(body.get("reason", "?")) if isinstance(body, dict) else "?"
