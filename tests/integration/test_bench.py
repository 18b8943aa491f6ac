"""`herald bench` end to end against a real Herald server and a peer; counts only, no timing goals."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from tests.herald_server import HeraldServer, free_port

PEERS = Path(__file__).resolve().parents[3] / "shared" / "bench" / "peers"


def bench(*args: str) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "herald.cli", "bench", "--settle", "0", *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def herald(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HeraldServer]:
    server = HeraldServer(tmp_path_factory.mktemp("bench")).start()
    yield server
    server.stop()


@pytest.fixture
def uvloop_peer() -> Iterator[str]:
    if not (PEERS / "uvloop_raw_sse.py").exists():
        pytest.skip(f"the shared bench peers are not checked out next to this repository ({PEERS})")
    port = free_port()
    process = subprocess.Popen([sys.executable, str(PEERS / "uvloop_raw_sse.py"), str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(5)


def test_every_broadcast_reaches_every_herald_stream_across_processes(herald: HeraldServer) -> None:
    assert herald.process is not None
    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--connections", "20",
                   "--users", "8", "--broadcasts", "3", "--gap", "0", "--processes", "2", "--source-addresses", "2",
                   "--server-pid", str(herald.process.pid))
    assert (report["connected"], report["errors"], report["dropped"]) == (20, 0, 0)
    assert report["broadcasts"] == 3 and report["deliveries"] == 20 * 3 == report["expected_deliveries"]
    assert len(report["broadcast_spans_ms"]) == 3
    assert 0 <= report["p50_ms"] <= report["p99_ms"] <= report["max_ms"]
    assert report["load_process_count"] == 2 and report["source_addresses"] == 2
    assert report["server_rss_mb_after"] > 0 and "rss_per_connection_kb" in report


def test_publishing_at_a_rate_delivers_each_notification_to_its_users_streams(herald: HeraldServer) -> None:
    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--connections", "12",
                   "--users", "4", "--rate", "20", "--duration", "0.5", "--format", "json")
    assert report["mode"] == "rate" and report["publishes"] == 10 and report["publish_errors"] == 0
    assert report["deliveries"] == report["expected_deliveries"] == 10 * 3
    assert report["p99_ms"] is not None


def test_opening_while_publishing_reports_opens_per_second_and_the_publishes(herald: HeraldServer) -> None:
    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--connections", "30",
                   "--users", "10", "--open-publish-rate", "50", "--connect-concurrency", "4", "--broadcasts", "1",
                   "--processes", "2")
    assert (report["connected"], report["errors"]) == (30, 0)
    assert report["opens_per_s"] > 0 and report["open_seconds"] > 0
    assert report["open_publishes"] >= 1 and report["open_publish_errors"] == 0
    # What was published while opening is not counted: the one broadcast is all the deliveries.
    assert report["deliveries"] == report["expected_deliveries"] == 30


def test_publish_throughput_counts_inbox_items_written(herald: HeraldServer) -> None:
    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--publish-throughput",
                   "--group-size", "50", "--count", "3")
    assert report["publishes"] == 3 and report["publishes_per_s"] > 0 and report["inbox_items_per_s"] > 0


def test_a_peer_gets_the_probe_protocol(uvloop_peer: str) -> None:
    report = bench("--target", "peer", "--url", uvloop_peer, "--connections", "20", "--broadcasts", "3", "--gap", "0")
    assert (report["connected"], report["errors"]) == (20, 0)
    assert report["deliveries"] == 60 and report["deliveries_per_s"] > 0


def test_failed_streams_are_counted_by_kind_not_fatal(herald: HeraldServer) -> None:
    # Herald has no /events: every peer-protocol stream gets a 404.
    report = bench("--target", "peer", "--url", herald.url, "--connections", "5", "--broadcasts", "1")
    assert report["connected"] == 0 and report["error_kinds"] == {"status_404": 5}
    closed = bench("--target", "peer", "--url", f"http://127.0.0.1:{free_port()}", "--connections", "3")
    assert closed["errors"] == 3 and closed["error_kinds"] == {"refused": 3}


def test_table_format_is_one_aligned_row_per_figure(uvloop_peer: str) -> None:
    result = subprocess.run([sys.executable, "-m", "herald.cli", "bench", "--target", "peer", "--url", uvloop_peer,
                             "--connections", "2", "--broadcasts", "1", "--settle", "0", "--format", "table"],
                            capture_output=True, text=True, timeout=60)
    rows = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert rows["connected"] == "2" and rows["deliveries"] == "2"


def test_websocket_streams_and_live_channel_broadcasts(herald: HeraldServer) -> None:
    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--connections", "12",
                   "--users", "3", "--transport", "websocket", "--audience", "channel", "--broadcasts", "3", "--gap", "0")
    assert (report["connected"], report["errors"], report["transport"], report["audience"]) == (12, 0, "websocket", "channel")
    assert report["deliveries"] == report["expected_deliveries"] == 12 * 3


def test_tokens_minted_with_the_servers_secret_reach_every_stream(herald: HeraldServer) -> None:
    from tests.herald_server import SECRET

    report = bench("--target", "herald", "--url", herald.url, "--api-key", herald.api_key, "--connections", "10",
                   "--secret", SECRET, "--transport", "websocket", "--broadcasts", "2", "--gap", "0")
    assert (report["connected"], report["deliveries"]) == (10, 20), "inbox broadcasts over WebSocket, local tokens"
