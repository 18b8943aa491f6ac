"""Consumer settings: each source off until its address is set, and loud about bad values at start."""
from __future__ import annotations

from pathlib import Path

import pytest

from herald.consume import sources
from herald.settings import SettingsError, load_settings


def test_no_source_runs_unless_its_address_is_configured(tmp_path: Path) -> None:
    assert sources(load_settings({"HERALD_DATA_DIR": str(tmp_path)})) == []
    configured = load_settings({
        "HERALD_DATA_DIR": str(tmp_path), "HERALD_CONSUME_NATS_URL": "nats://127.0.0.1:4222",
        "HERALD_CONSUME_REDIS_URL": "redis://127.0.0.1:6379/0", "HERALD_CONSUME_REDIS_STREAMS": "a:0, a:1",
        "HERALD_CONSUME_OUTBOX_URL": "postgresql://postgres@127.0.0.1/test",
        "HERALD_CONSUME_KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092", "HERALD_CONSUME_NAME": "pod-3"})
    assert [s.name for s in sources(configured)] == ["nats", "redis", "outbox", "kafka"]
    assert configured.consume_redis_streams == ("a:0", "a:1")
    assert configured.consume_kafka_bootstrap_servers == ("k1:9092", "k2:9092")


@pytest.mark.parametrize("env", [
    {"HERALD_CONSUME_NATS_URL": "http://127.0.0.1:4222"},
    {"HERALD_CONSUME_NATS_URL": "nats://x", "HERALD_CONSUME_NATS_DURABLE": "two words"},
    {"HERALD_CONSUME_NATS_URL": "nats://x", "HERALD_CONSUME_NATS_SUBJECTS": ""},
    {"HERALD_CONSUME_NATS_ACK_WAIT_SECONDS": "0"},
    {"HERALD_CONSUME_REDIS_URL": "127.0.0.1:6379"},
    {"HERALD_CONSUME_REDIS_URL": "redis://x", "HERALD_CONSUME_REDIS_STREAMS": " , "},
    {"HERALD_CONSUME_OUTBOX_URL": "sqlite+aiosqlite:///x.db"},
    {"HERALD_CONSUME_KAFKA_BOOTSTRAP_SERVERS": "broker-without-port"},
    {"HERALD_CONSUME_BATCH_SIZE": "0"}, {"HERALD_CONSUME_CONCURRENCY": "-1"}, {"HERALD_CONSUME_MAX_ATTEMPTS": "0"},
    {"HERALD_CONSUME_RETRY_BASE_SECONDS": "5", "HERALD_CONSUME_RETRY_MAX_SECONDS": "1"},
    {"HERALD_CONSUME_LAG_INTERVAL_SECONDS": "soon"},
])
def test_bad_consumer_values_fail_at_start(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="HERALD_"):
        load_settings({"HERALD_DATA_DIR": str(tmp_path), **env})


def test_the_outbox_ddl_in_the_docs_is_the_one_herald_ships() -> None:
    from herald.consume.outbox import DDL

    docs = (Path(__file__).parents[3] / "docs" / "consumers.md").read_text()
    body = [line for line in DDL.splitlines() if line and not line.startswith("--")]
    missing = [line for line in body if line not in docs]
    assert missing == [], "docs/consumers.md must show outbox.sql as shipped"
