"""Settings: one object from HERALD_* variables, loud about bad values."""
from __future__ import annotations

from pathlib import Path

import pytest

from herald.settings import SettingsError, load_settings


def test_values_come_from_prefixed_environment_and_flags_override(tmp_path: Path) -> None:
    env = {"HERALD_DATA_DIR": str(tmp_path), "HERALD_PORT": "9001", "HERALD_API_KEYS": "a-key, b-key",
           "HERALD_HEARTBEAT_SECONDS": "2.5", "HERALD_SECRET": "s" * 32}
    settings = load_settings(env, port=9002)
    assert settings.port == 9002
    assert settings.api_keys == ("a-key", "b-key")
    assert settings.heartbeat_seconds == 2.5
    assert settings.effective_database_url.startswith("sqlite+aiosqlite:///")


@pytest.mark.parametrize("env", [{"HERALD_PORT": "http"}, {"HERALD_PORT": "70000"}, {"HERALD_HEARTBEAT_SECONDS": "0"},
                                 {"HERALD_ENV": "staging"}, {"HERALD_SECRET": "short"},
                                 {"HERALD_PUSH_ACK_TIMEOUT_SECONDS": "-1"}, {"HERALD_PUSH_ACK_TIMEOUT_SECONDS": "soon"},
                                 {"HERALD_PUBLISH_RATE_PER_SECOND": "-1"}, {"HERALD_CONNECT_ADDRESS_BURST": "-5"},
                                 {"HERALD_TRUSTED_PROXIES": "10.0.0.1, proxy.example"},
                                 {"HERALD_RECIPIENT_LIVE_PER_MINUTE": "-1"}, {"HERALD_LOG_FORMAT": "xml"}])
def test_bad_values_fail_at_start(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(SettingsError):
        load_settings({"HERALD_DATA_DIR": str(tmp_path), **env})


def test_limits_may_be_turned_off_and_proxies_given_as_networks(tmp_path: Path) -> None:
    settings = load_settings({"HERALD_DATA_DIR": str(tmp_path), "HERALD_PUBLISH_RATE_PER_SECOND": "0",
                              "HERALD_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7", "HERALD_LOG_FORMAT": "json",
                              "HERALD_ACCESS_LOG": "false"})
    assert settings.publish_rate_per_second == 0
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.168.1.7")
    assert (settings.log_format, settings.access_log) == ("json", False)


def test_production_requires_a_real_secret_and_keys(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET"):
        load_settings({"HERALD_ENV": "production", "HERALD_DATA_DIR": str(tmp_path), "HERALD_API_KEYS": "k"})
    with pytest.raises(SettingsError, match="API_KEYS"):
        load_settings({"HERALD_ENV": "production", "HERALD_DATA_DIR": str(tmp_path), "HERALD_SECRET": "s" * 40})


def test_development_keeps_its_generated_secret_and_key_across_restarts(tmp_path: Path) -> None:
    first = load_settings({"HERALD_DATA_DIR": str(tmp_path)})
    second = load_settings({"HERALD_DATA_DIR": str(tmp_path)})
    assert first.secret == second.secret and len(first.secret) >= 32
    assert first.api_keys == second.api_keys and len(first.api_keys) == 1
    assert oct((tmp_path / "dev-secret").stat().st_mode & 0o777) == "0o600"


def test_every_setting_is_documented_in_operations() -> None:
    import msgspec

    from herald.settings import Settings

    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    missing = [f"HERALD_{f.name.upper()}" for f in msgspec.structs.fields(Settings) if f"HERALD_{f.name.upper()}" not in text]
    assert missing == []
