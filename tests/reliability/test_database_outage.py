"""PostgreSQL unreachable for 10 s behind a proxy the test cuts: 503s meanwhile, nothing half-written, no restart.

A producer keeps publishing through the outage, each publish with its own idempotency key, and
retries every 503 after ``Retry-After`` as the contract asks. Afterwards the database holds each
accepted notification exactly once with its inbox item, and none of what was refused.
"""
from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import POSTGRES_ADMIN_URL, HeraldServer, create_postgres_database, drop_postgres_database
from tests.sse_client import open_stream
from tests.tcp_proxy import TcpProxy

OUTAGE_SECONDS = 10


@pytest.fixture
def behind_proxy(tmp_path: Path) -> Iterator[tuple[HeraldServer, TcpProxy, str]]:
    database = create_postgres_database()
    proxy = TcpProxy("127.0.0.1", 5432).start()
    proxied = database.replace("@127.0.0.1:5432/", f"@127.0.0.1:{proxy.port}/")
    assert proxied != database
    herald = HeraldServer(tmp_path / "herald", proxied).start()
    yield herald, proxy, database
    herald.stop()
    proxy.close()
    drop_postgres_database(database)


def psql(database: str, sql: str) -> str:
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + database.rsplit("/", 1)[1]
    return subprocess.run(["psql", url, "-tAc", sql], check=True, capture_output=True, text=True).stdout.strip()


class Producer(threading.Thread):
    """Publishes one notification after another, each with its own key; remembers what each answer was."""

    def __init__(self, herald: HeraldServer, user: str) -> None:
        super().__init__(daemon=True)
        self.herald, self.user = herald, user
        self.stop = threading.Event()
        self.accepted: dict[str, str] = {}  # idempotency key -> notification id
        self.refused: list[httpx.Response] = []

    def post(self, http: httpx.Client, key: str) -> httpx.Response:
        return http.post("/api/publish", json={"to": {"users": [self.user]}, "type": "t", "title": key,
                                               "idempotencyKey": key})

    def run(self) -> None:
        with httpx.Client(base_url=self.herald.url, headers=self.herald.headers(), timeout=30) as http:
            n = 0
            while not self.stop.is_set():
                key = f"k{n}"
                n += 1
                response = self.post(http, key)
                if response.status_code == 202:
                    self.accepted[key] = response.json()["id"]
                else:
                    self.refused.append(response)
                    self.accepted[key] = ""  # to be retried once the database is back
                time.sleep(0.05)

    def retry_refused(self) -> None:
        with httpx.Client(base_url=self.herald.url, headers=self.herald.headers(), timeout=30) as http:
            for key, notification in self.accepted.items():
                if not notification:
                    response = self.post(http, key)
                    assert response.status_code == 202, response.text
                    self.accepted[key] = response.json()["id"]


def wait_for(check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "not within the time allowed"
        time.sleep(0.1)
    return time.monotonic() - start


async def test_database_outage_answers_503_then_recovers_without_restart_and_nothing_half_written(
        behind_proxy: tuple[HeraldServer, TcpProxy, str]) -> None:
    herald, proxy, database = behind_proxy
    user = "outage-user"
    token = herald.token(user)
    pid = herald.process.pid if herald.process else None
    async with open_stream(herald.url, token) as stream:
        await stream.until("ready")
        producer = Producer(herald, user)
        producer.start()
        await asyncio.to_thread(wait_for, lambda: len(producer.accepted) >= 5, 20)

        proxy.cut()
        cut_at = time.monotonic()
        await asyncio.sleep(1)  # a publish that was in flight at the cut has had its answer
        refused_before = len(producer.refused)
        ready = httpx.get(herald.url + "/readyz", timeout=20)
        listing = httpx.get(herald.url + "/api/notifications", headers={"Authorization": f"Bearer {token}"}, timeout=20)
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))
        proxy.restore()
        recovered_in = await asyncio.to_thread(
            wait_for, lambda: httpx.get(herald.url + "/readyz", timeout=20).status_code == 200, 30)
        await asyncio.to_thread(wait_for, lambda: len(producer.accepted) >= 5 + refused_before + 5, 30)
        producer.stop.set()
        await asyncio.to_thread(producer.join, 30)

        # Meanwhile: not ready, and every refusal is the contract's 503.
        assert ready.status_code == 503 and ready.headers["retry-after"], ready.text
        assert ready.json()["error"] == "unavailable"
        assert listing.status_code == 503 and listing.json()["error"] == "unavailable"
        assert len(producer.refused) >= 5, "the producer kept trying through the outage"
        for response in producer.refused:
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json() == {"error": "unavailable", "message": response.json()["message"]}
        assert recovered_in < 15, f"ready again {recovered_in:.1f} s after the database came back"

        # Recovery without restart: the same process, the same open stream gets what comes next.
        assert herald.process is not None and herald.process.pid == pid and herald.process.poll() is None
        after = herald.publish(to={"users": [user]}, type="t", title="after the outage")["id"]
        seen = []
        while after not in seen:
            seen.append((await stream.until("notification", timeout=15)).json()["id"])

    # Nothing half-written, nothing lost: retried with its key, each refused publish lands once.
    producer.retry_refused()
    accepted = set(producer.accepted.values()) | {after}
    assert len(accepted) == len(producer.accepted) + 1, "one notification per idempotency key"
    assert int(psql(database, "SELECT count(*) FROM notifications")) == len(accepted)
    assert int(psql(database, f"SELECT count(*) FROM inbox_items WHERE user_id = '{user}'")) == len(accepted)
    orphans = psql(database, "SELECT count(*) FROM notifications n WHERE NOT EXISTS "
                             "(SELECT 1 FROM inbox_items i WHERE i.notification_id = n.id)")
    assert orphans == "0", "a notification without its inbox item is half-written"
    listing = httpx.get(herald.url + "/api/notifications", params={"limit": 200},
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert {item["id"] for item in listing["items"]} == accepted
    assert int(psql(database, f"SELECT last_seq FROM users WHERE user_id = '{user}'")) == len(accepted), \
        "sequence numbers stay contiguous: no seq was taken by a rolled-back publish"


FROZEN_ANSWER_SECONDS = 20


async def test_a_database_that_stops_answering_gives_503s_within_seconds(
        behind_proxy: tuple[HeraldServer, TcpProxy, str]) -> None:
    herald, proxy, _ = behind_proxy
    herald.publish(to={"users": ["frozen-user"]}, type="t", title="before")  # a warm pool
    proxy.freeze()
    try:
        with httpx.Client(base_url=herald.url, headers=herald.headers(), timeout=FROZEN_ANSWER_SECONDS + 5) as http:
            started = time.monotonic()
            response = http.post("/api/publish", json={"to": {"users": ["frozen-user"]}, "type": "t", "title": "x"})
            waited = time.monotonic() - started
            assert response.status_code == 503 and response.headers["retry-after"], response.text
            assert waited < FROZEN_ANSWER_SECONDS, f"answered after {waited:.0f} s"
            ready = http.get("/readyz")
            assert ready.status_code == 503 and time.monotonic() - started < 2 * FROZEN_ANSWER_SECONDS
    except httpx.TimeoutException:
        pytest.fail(f"no answer within {FROZEN_ANSWER_SECONDS + 5} s while the database did not answer")
    finally:
        proxy.thaw()
    assert herald.publish(to={"users": ["frozen-user"]}, type="t", title="after")["recipients"] == 1
