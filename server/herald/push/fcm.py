"""Firebase Cloud Messaging, HTTP v1 API: pushes to Android apps.

Authentication is the service account's OAuth2 JWT-bearer flow, done by
google-auth from the key file Google gives (``HERALD_FCM_CREDENTIALS_FILE``),
at the file's own ``token_uri``. google-auth's transports are synchronous (its
async service-account support is marked internal), so the refresh runs in a
worker thread, one at a time; the access token is reused until google-auth
deems it near expiry (within its refresh threshold, a few minutes).

Each push is ``POST {endpoint}/v1/projects/{project}/messages:send`` with a
notification, a data map (all strings, as FCM requires), the Android priority
(HIGH for urgent and high), ``collapse_key`` and the notification ``tag`` from
the groupKey, and the remaining TTL. Answers (Google's documented ``FcmError``
codes): 200 delivered; 404 or ``UNREGISTERED``: the token is removed; 429 and
5xx: retried (``Retry-After`` honoured); 401: the access token is refreshed
and the push tried once more; 400/403: failed for good, the code recorded.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp
import msgspec
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import Request as GoogleRequest
from google.oauth2 import service_account

from herald.push.devices import token_hint
from herald.push.message import DIGEST_TAG, collapse_key, digest_title, fit, topic_for
from herald.push.provider import Device, Job, Outcome, Prepared, Provider, retry_after
from herald.settings import Settings, SettingsError
from herald.wire import now_ms

log = logging.getLogger("herald.push")

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
# FCM refuses messages over 4096 bytes; the encoded request is a little larger than what it counts.
MAX_MESSAGE_BYTES = 4000
ANDROID_PRIORITY = {"urgent": "HIGH", "high": "HIGH", "medium": "NORMAL", "low": "NORMAL"}

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def load_credentials(path: str) -> service_account.Credentials:
    """The service account of the key file, or a ``SettingsError`` that says what is wrong with it."""
    try:
        with open(path, encoding="utf-8") as handle:
            info = json.load(handle)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"HERALD_FCM_CREDENTIALS_FILE: cannot read {path}: {exc}") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise SettingsError("HERALD_FCM_CREDENTIALS_FILE is not a service-account key (\"type\": \"service_account\")")
    if not info.get("project_id"):
        raise SettingsError("HERALD_FCM_CREDENTIALS_FILE has no \"project_id\"")
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    except (ValueError, GoogleAuthError) as exc:
        raise SettingsError(f"HERALD_FCM_CREDENTIALS_FILE is not a usable service-account key: {exc}") from None


class AccessTokens:
    """The OAuth2 access token for FCM, fetched when missing or near expiry, one fetch at a time."""

    def __init__(self, credentials: service_account.Credentials, timeout_seconds: float) -> None:
        self.credentials = credentials
        self.timeout_seconds = timeout_seconds
        self.refreshes = 0
        self._lock = asyncio.Lock()
        self._request = GoogleRequest()

    async def token(self) -> str:
        async with self._lock:
            if not self.credentials.valid:
                await asyncio.wait_for(asyncio.to_thread(self.credentials.refresh, self._request),
                                       self.timeout_seconds)
                self.refreshes += 1
            return str(self.credentials.token)

    def invalidate(self, token: str) -> None:
        """FCM refused ``token``: the next ``token()`` fetches a new one (unless another send already did)."""
        if self.credentials.token == token:
            self.credentials.token = None


class FcmProvider(Provider):
    name = "fcm"
    concurrency = 32

    def __init__(self, settings: Settings, credentials: service_account.Credentials | None = None) -> None:
        self.settings = settings
        credentials = credentials or load_credentials(settings.fcm_credentials_file)
        self.tokens = AccessTokens(credentials, settings.push_timeout_seconds)
        self.url = f"{settings.fcm_endpoint.rstrip('/')}/v1/projects/{credentials.project_id}/messages:send"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # aiohttp, as Web Push: kept-alive HTTP/1.1 connections, which Google's endpoint serves. httpx's pool
        # cost this path three times the CPU per push (scripts/bench_push.py); APNs needs httpx for HTTP/2.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency),
            timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout_seconds))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def prepare(self, item: dict[str, Any]) -> Prepared:
        key = collapse_key(item)
        topic = topic_for(key) if key else None
        priority = ANDROID_PRIORITY[item["priority"]]

        def build(fitted: dict[str, Any]) -> bytes:
            android: dict[str, Any] = {"priority": priority}
            if topic:
                android["collapse_key"] = topic
                android["notification"] = {"tag": topic}
            return _encode({"notification": {"title": fitted["title"], "body": fitted["body"]},
                            "data": {"kind": "notification", "id": fitted["id"],
                                     "notification": _encode(fitted).decode()},
                            "android": android})

        return Prepared(fit(item, build, MAX_MESSAGE_BYTES).decode(), priority, topic)

    def prepare_digest(self, unread: int, timestamp: int, title: str | None = None) -> Prepared:
        topic = topic_for(DIGEST_TAG)
        title = title or digest_title(unread)
        return Prepared(_encode({"notification": {"title": title, "body": ""},
                                 "data": {"kind": "digest", "unread": str(unread), "timestamp": str(timestamp)},
                                 "android": {"priority": "NORMAL", "collapse_key": topic,
                                             "notification": {"tag": topic}}}).decode(), "NORMAL", topic)

    def prepare_read(self, item_ids: list[str], everything: bool) -> Prepared | None:
        # A data message: the app gets it in onMessageReceived, shows nothing, removes what was read.
        return Prepared(_encode({"data": {"kind": "read", "ids": _encode(item_ids).decode(),
                                          "all": "true" if everything else "false"},
                                 "android": {"priority": "NORMAL"}}).decode(), "NORMAL")

    def prepare_retract(self, item_ids: list[str]) -> Prepared | None:
        # A data message, as for reads: the app removes those notifications without showing anything.
        return Prepared(_encode({"data": {"kind": "retract", "ids": _encode(item_ids).decode()},
                                 "android": {"priority": "NORMAL"}}).decode(), "NORMAL")

    async def send(self, job: Job) -> Outcome:
        device = job.target
        assert isinstance(device, Device) and self._session is not None
        message = _decode(job.payload)
        message["token"] = device.token
        message.setdefault("android", {})["ttl"] = f"{max(1, (job.expires_at - now_ms()) // 1000)}s"
        body = _encode({"message": message})
        for fresh_token in (False, True):
            try:
                token = await self.tokens.token()
            except (GoogleAuthError, asyncio.TimeoutError, OSError) as exc:
                log.warning("FCM access token not obtained (%s); pushes wait", exc)
                return Outcome(job, "retry", reason=f"oauth: {type(exc).__name__}")
            try:
                async with self._session.post(self.url, data=body, allow_redirects=False, headers={
                        "Authorization": f"Bearer {token}", "Content-Type": "application/json; charset=utf-8"}) as r:
                    status, retry_header, answer = r.status, r.headers.get("Retry-After"), await r.read()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                log.info("FCM push to %s failed (%s); will retry", token_hint(device.token), type(exc).__name__)
                return Outcome(job, "retry", reason=type(exc).__name__)
            if status == 401 and not fresh_token:
                self.tokens.invalidate(token)  # revoked or expired early: one more try with a new token
                continue
            return self._classify(job, status, retry_header, answer)
        raise AssertionError("unreachable")

    def _classify(self, job: Job, status: int, retry_header: str | None, answer: bytes) -> Outcome:
        if status == 200:
            return Outcome(job, "delivered")
        code = _error_code(answer)
        reason = f"{status} {code}"
        if status == 404 or code == "UNREGISTERED":
            return Outcome(job, "gone", reason=reason)
        if status in (401, 429) or status >= 500:
            return Outcome(job, "retry", retry_after(retry_header), reason=reason)
        assert isinstance(job.target, Device)
        log.warning("FCM refused a push to %s: %s", token_hint(job.target.token), reason)
        return Outcome(job, "rejected", reason=reason)


def _error_code(answer: bytes) -> str:
    """The ``FcmError`` code of a Google error body, else its ``status`` (``INVALID_ARGUMENT``...)."""
    try:
        body = _decode(answer)
    except msgspec.DecodeError:
        return "?"
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return "?"
    for detail in error.get("details") or ():
        if isinstance(detail, dict) and detail.get("errorCode"):
            return str(detail["errorCode"])
    return str(error.get("status") or "?")
