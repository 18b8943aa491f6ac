"""The console command: migrate, token, and what serve prints."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HERALD_DATA_DIR": str(tmp_path), "HERALD_SECRET": "cli-secret-0123456789abcdef-0123456789"}
    return subprocess.run([sys.executable, "-m", "herald.cli", *args], env=env, capture_output=True, text=True, timeout=60)


def test_migrate_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert (tmp_path / "herald.db").exists()
    assert run(tmp_path, "migrate").returncode == 0


def test_token_prints_a_subscriber_token_for_the_user(tmp_path: Path) -> None:
    result = run(tmp_path, "token", "alice", "--ttl-seconds", "120")
    assert result.returncode == 0
    claims = jwt.decode(result.stdout.strip(), "cli-secret-0123456789abcdef-0123456789", algorithms=["HS256"], audience="herald:subscriber")
    assert claims["sub"] == "alice" and claims["exp"] - claims["iat"] == 120


def test_bad_configuration_exits_2_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "HERALD_DATA_DIR": str(tmp_path), "HERALD_PORT": "nope"}
    result = subprocess.run([sys.executable, "-m", "herald.cli", "token", "a"], env=env, capture_output=True, text=True)
    assert result.returncode == 2 and "HERALD_" in result.stderr


def test_serve_prints_the_generated_development_key_and_never_a_configured_one(tmp_path: Path) -> None:
    from tests.herald_server import HeraldServer

    generated = HeraldServer(tmp_path / "generated")
    generated.env.pop("HERALD_API_KEYS")
    generated.start()
    generated.stop()
    key = (tmp_path / "generated" / "dev-api-key").read_text().strip()
    assert f"Development API key: {key}" in generated.log_path.read_text()

    configured = HeraldServer(tmp_path / "configured").start()  # HERALD_API_KEYS set, as on a staging box
    configured.stop()
    log = configured.log_path.read_text()
    assert configured.api_key not in log and "Development API key" not in log


def test_serve_logs_the_migrations_it_runs_without_alembic_plugin_chatter(tmp_path: Path) -> None:
    from tests.herald_server import HeraldServer

    herald = HeraldServer(tmp_path / "fresh").start()
    herald.stop()
    log = herald.log_path.read_text()
    assert "Running upgrade  -> 0001" in log, "a first start says which migrations it applied"
    assert "setup plugin" not in log
