"""Web Push (RFC 8030, encrypted per RFC 8291, signed per RFC 8292) with pywebpush's asyncio API.

The endpoint is a URL a client chose, so each send checks it again
(endpoint.py: the configuration may have changed since it subscribed),
resolves it through ``SafeResolver`` and refuses redirects. Browsers require
every push to show a notification, so Web Push has no silent read update.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from pywebpush import WebPushException, webpush_async

from herald.errors import HeraldError
from herald.push.endpoint import SafeResolver, check_endpoint, is_refusal, refuse_redirect
from herald.push.message import (
    DIGEST_TAG,
    URGENCY,
    collapse_key,
    digest_message,
    push_message,
    retract_message,
    topic_for,
)
from herald.push.provider import Job, Outcome, Prepared, Provider, Subscription, retry_after
from herald.push.vapid import VapidKeys
from herald.settings import Settings
from herald.wire import now_ms

log = logging.getLogger("herald.push")


class WebPushProvider(Provider):
    name = "webpush"
    concurrency = 16

    def __init__(self, settings: Settings, keys: VapidKeys) -> None:
        self.settings = settings
        self.keys = keys
        self.signer = keys.signer()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        trace = aiohttp.TraceConfig()
        trace.on_request_redirect.append(refuse_redirect)
        connector = aiohttp.TCPConnector(resolver=SafeResolver(allow_loopback=not self.settings.is_production),
                                         limit=self.concurrency)
        # trust_env stays off: an HTTP(S)_PROXY from the environment must not route around the checks.
        self._session = aiohttp.ClientSession(connector=connector, trace_configs=[trace],
                                              timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout_seconds))

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    def prepare(self, item: dict[str, Any]) -> Prepared:
        key = collapse_key(item)
        return Prepared(push_message(item, self.settings.push_icon_url).decode(), URGENCY[item["priority"]],
                        topic_for(key) if key else None)

    def prepare_retract(self, item_ids: list[str]) -> Prepared | None:
        # The worker closes those notifications (service_worker/sw.js); "normal": no need to wake a phone.
        return Prepared(retract_message(item_ids).decode(), "normal")

    def prepare_digest(self, unread: int, timestamp: int, title: str | None = None) -> Prepared:
        return Prepared(digest_message(unread, self.settings.push_icon_url, timestamp, title).decode(), "normal",
                        topic_for(DIGEST_TAG))

    async def send(self, job: Job) -> Outcome:
        target = job.target
        assert isinstance(target, Subscription)
        now = now_ms()
        try:
            check_endpoint(target.endpoint, production=self.settings.is_production,
                           hosts=self.settings.push_endpoint_hosts)
        except HeraldError as exc:
            log.warning("push endpoint no longer allowed (%s); dropping the push", exc.message)
            return Outcome(job, "refused", reason="endpoint not allowed")
        headers: dict[str, Any] = {"Urgency": job.urgency}
        if job.topic:
            headers["Topic"] = job.topic
        try:
            await webpush_async(
                {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
                data=job.payload, vapid_private_key=self.signer,
                vapid_claims={"sub": self.settings.vapid_subject},  # fresh dict: pywebpush fills aud and exp in
                ttl=max(1, (job.expires_at - now) // 1000), headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.settings.push_timeout_seconds),  # type: ignore[arg-type]
                aiohttp_session=self._session)
        except WebPushException as exc:
            return self._classify(job, exc.response)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            if is_refusal(exc):
                log.warning("push endpoint refused at send time: %s", exc)
                return Outcome(job, "refused", reason="address not allowed")
            log.info("push to %s failed (%s); will retry", _origin(target.endpoint), exc)
            return Outcome(job, "retry", reason=type(exc).__name__)
        return Outcome(job, "delivered")

    def _classify(self, job: Job, response: Any) -> Outcome:
        status = getattr(response, "status", None)
        if status in (404, 410):
            return Outcome(job, "gone", reason=str(status))
        if status == 429 or (status is not None and status >= 500):
            headers = getattr(response, "headers", None) or {}
            return Outcome(job, "retry", retry_after(headers.get("Retry-After")), reason=str(status))
        # No status: pywebpush refused before sending (unusable keys); trying again cannot help.
        assert isinstance(job.target, Subscription)
        log.warning("push service %s answered %s; dropping the push", _origin(job.target.endpoint), status)
        return Outcome(job, "rejected", reason=str(status))


def _origin(endpoint: str) -> str:
    # Endpoints are capability URLs: log where they point, never the whole secret path.
    return endpoint.split("/", 3)[2] if endpoint.count("/") >= 2 else "?"
