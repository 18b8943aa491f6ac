"""Pushes per second from one Herald process to each local push service: Web Push, FCM and APNs.

    python scripts/bench_push.py --pushes 2000

The whole send path of the pipeline, not a bare HTTP loop: ``--pushes`` rows
per provider are written to ``push_jobs`` (SQLite, one target each), then
that provider's ``PushSender`` leases, sends and settles them in batches of
100 until none is left; the figure is rows ÷ wall time. The local services of
the test suite answer in a second process (their verification included: the
Web Push one decrypts each body, the APNs one checks each ES256 token, FCM
each bearer token and message), so they are part of what is measured, as a
real service's latency would be. "Herald CPU" is this process's CPU time
over the wall time: near 100 % says Herald's side (one core) is the limit.
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "server"), str(ROOT)]

from herald.db import Database, migrate  # noqa: E402
from herald.metrics import Metrics  # noqa: E402
from herald.models import devices, push_jobs, push_subscriptions  # noqa: E402
from herald.push.apns import ApnsProvider  # noqa: E402
from herald.push.fcm import FcmProvider  # noqa: E402
from herald.push.provider import Provider  # noqa: E402
from herald.push.sender import PushSender  # noqa: E402
from herald.push.vapid import load_keys  # noqa: E402
from herald.push.webpush import WebPushProvider  # noqa: E402
from herald.settings import Settings, load_settings  # noqa: E402
from herald.wire import new_id, now_ms  # noqa: E402

ITEM = {"id": "01JD3ZZZZZZZZZZZZZZZZZZZZZ", "type": "order.shipped", "title": "Your order shipped",
        "body": "Order #1042 is on its way", "priority": "high", "timestamp": 1732200000000, "read": False,
        "groupKey": "order:1042", "url": "/orders/1042", "data": {"orderId": 1042}}


def services(directory: str, targets: int, ready: Any, done: Any) -> None:
    """The child process: the three local services, and the targets registered with them."""
    from tests.fake_apns import FakeApple
    from tests.fake_fcm import FakeGoogle
    from tests.fake_push_service import FakePushService

    google, apple, web = FakeGoogle().start(), FakeApple(Path(directory)).start(), FakePushService().start()
    ready.put({"fcm_key": str(google.key_file(Path(directory))), "fcm_endpoint": google.origin, "apns": apple.env(),
               "fcm_tokens": [google.device() for _ in range(targets)],
               "apns_tokens": [apple.device() for _ in range(targets)],
               "subscriptions": [web.subscription().to_json() for _ in range(targets)]})
    vapid = done.get()  # the public key to verify Web Push with, then "stop"
    web.vapid_public_key = vapid
    done.get()
    errors = google.errors + apple.errors + web.errors
    ready.put({"errors": errors[:5], "fcm": len(google.received), "apns": len(apple.received),
               "webpush": len(web.received)})


async def fill(db: Database, provider: Provider, targets: list[str], pushes: int) -> None:
    prepared = provider.prepare(ITEM)
    now = now_ms()
    rows = [{"provider": provider.name, "user_id": "bench", "item_id": f"b{n:024d}", "payload": prepared.payload,
             "urgency": prepared.urgency, "topic": prepared.topic, "attempts": 0, "created_at": now,
             "expires_at": now + 3_600_000, "next_attempt_at": now,
             "subscription_id": targets[n % len(targets)] if provider.name == "webpush" else None,
             "device_id": None if provider.name == "webpush" else targets[n % len(targets)]} for n in range(pushes)]
    async with db.write() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(push_jobs.insert(), rows[start:start + 1000])


async def targets_of(db: Database, info: dict[str, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"webpush": [], "fcm": [], "apns": []}
    now = now_ms()
    async with db.write() as conn:
        for sub in info["subscriptions"]:
            found["webpush"].append(new_id())
            await conn.execute(push_subscriptions.insert().values(
                id=found["webpush"][-1], user_id="bench", endpoint=sub["endpoint"], p256dh=sub["keys"]["p256dh"],
                auth=sub["keys"]["auth"], created_at=now))
        for platform, app in (("fcm", "com.example.android"), ("apns", "com.example.herald")):
            for token in info[f"{platform}_tokens"]:
                found[platform].append(new_id())
                await conn.execute(devices.insert().values(id=found[platform][-1], user_id="bench",
                                                           platform=platform, token=token, app=app, created_at=now))
    return found


async def run(settings: Settings, info: dict[str, Any], pushes: int, done: Any) -> dict[str, tuple[float, float]]:
    db = Database(settings.effective_database_url)
    metrics = Metrics()
    keys = load_keys(settings)
    done.put(keys.public_key)
    providers: list[Provider] = [WebPushProvider(settings, keys), FcmProvider(settings), ApnsProvider(settings)]
    targets = await targets_of(db, info)
    rates = {}
    for provider in providers:
        sender = PushSender(settings, db, metrics, provider)
        await provider.start()
        await fill(db, provider, targets[provider.name], pushes)
        started, cpu = time.perf_counter(), time.process_time()
        sent = 0
        while (leased := await sender.run_once()) > 0:
            sent += leased
        wall = time.perf_counter() - started
        rates[provider.name] = (sent / wall, (time.process_time() - cpu) / wall)
        await provider.stop()
    await db.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pushes", type=int, default=2000, help="pushes per provider")
    parser.add_argument("--targets", type=int, default=50, help="subscriptions or devices per provider")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        context = multiprocessing.get_context("spawn")
        ready, done = context.Queue(), context.Queue()
        child = context.Process(target=services, args=(directory, args.targets, ready, done))
        child.start()
        info = ready.get(timeout=60)
        settings = load_settings({"HERALD_DATA_DIR": directory, "HERALD_FCM_CREDENTIALS_FILE": info["fcm_key"],
                                  "HERALD_FCM_ENDPOINT": info["fcm_endpoint"], **info["apns"]})
        migrate(settings.effective_database_url)
        rates = asyncio.run(run(settings, info, args.pushes, done))
        done.put("stop")
        summary = ready.get(timeout=60)
        child.join(10)
    for name, (rate, busy) in rates.items():
        # Herald's CPU time over wall time: near 100 % means Herald's side is the limit, not the service.
        print(f"{name:8} {rate:8.0f} pushes/s  Herald CPU {busy:4.0%}  ({args.pushes} pushes to {args.targets} targets)")
    print(f"received: webpush {summary['webpush']}, fcm {summary['fcm']}, apns {summary['apns']}; "
          f"errors: {summary['errors'] or 'none'}")


if __name__ == "__main__":
    main()
