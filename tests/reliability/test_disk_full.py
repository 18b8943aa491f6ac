"""SQLite on a full disk (a small tmpfs): a clear 503, no corruption, and publishing again once space returns.

The database file lives on a 4 MiB tmpfs mounted for the test, filled up by a filler file but for
a little room, so that a few publishes fill the rest. Then: each refused publish is a 503 with
Retry-After saying the database is out of disk space (503 rather than 507: the producer does what
it does for any outage, retry later; see errors.py), everything accepted before is intact,
``PRAGMA integrity_check`` says ``ok``, and when the filler is deleted the same process accepts
publishes and streams them again.
"""
from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.herald_server import HeraldServer
from tests.sse_client import open_stream

DISK_BYTES = 4 * 1024 * 1024
ROOM_BYTES = 600 * 1024  # what the filler leaves: tens of publishes
USER = "disk-full"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(disk: Path, leave: int) -> Path:
    filler = disk / "filler"
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    with open(filler, "wb") as out:
        out.write(b"\0" * max(0, free - leave))
    return filler


def publish(http: httpx.Client, i: int) -> httpx.Response:
    return http.post("/api/publish", json={"to": {"users": [USER]}, "type": "t", "title": f"#{i}",
                                           "body": "x" * 4000, "data": {"pad": "y" * 8000}})


async def test_full_disk_gives_a_clear_503_keeps_the_database_intact_and_recovers(small_disk: Path, tmp_path: Path) -> None:
    database = small_disk / "herald.db"
    herald = HeraldServer(tmp_path / "herald", f"sqlite+aiosqlite:///{database}").start()
    try:
        filler = fill(small_disk, ROOM_BYTES)
        token = herald.token(USER)
        accepted: list[str] = []
        refused: list[httpx.Response] = []
        with httpx.Client(base_url=herald.url, headers=herald.headers(), timeout=30) as http:
            for i in range(400):
                response = publish(http, i)
                if response.status_code == 202:
                    accepted.append(response.json()["id"])
                else:
                    refused.append(response)
                    if len(refused) == 3:
                        break
        assert accepted, "the disk had room for some"
        assert len(refused) == 3, "the disk filled up"
        for response in refused:
            assert response.status_code == 503
            assert response.json() == {"error": "unavailable", "message": "The database is out of disk space; try again later."}
            assert int(response.headers["retry-after"]) >= 1

        # Reading still works, and shows exactly what was accepted.
        headers = {"Authorization": f"Bearer {token}"}
        listing = httpx.get(herald.url + "/api/notifications", params={"limit": 200}, headers=headers)
        assert listing.status_code == 200
        assert [item["id"] for item in listing.json()["items"]] == accepted[::-1]
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as check:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert check.execute("SELECT count(*) FROM notifications").fetchone() == (len(accepted),)
            assert check.execute("SELECT last_seq FROM users WHERE user_id = ?", (USER,)).fetchone() == (len(accepted),)

        # Space comes back: the same process publishes and streams again, without a restart.
        filler.unlink()
        async with open_stream(herald.url, token) as stream:
            await stream.until("ready")
            with httpx.Client(base_url=herald.url, headers=herald.headers(), timeout=30) as http:
                again = publish(http, 1000)
            assert again.status_code == 202, again.text
            assert (await stream.until("notification")).json()["id"] == again.json()["id"]
        assert herald.process is not None and herald.process.poll() is None
    finally:
        herald.stop()
    with sqlite3.connect(database) as check:
        assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert check.execute("SELECT count(*) FROM inbox_items WHERE user_id = ?", (USER,)).fetchone() == (len(accepted) + 1,)
