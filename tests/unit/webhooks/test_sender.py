"""The retry schedule, and the URL checks a webhook endpoint is held to in production and development."""
from __future__ import annotations

import pytest

from herald.errors import HeraldError
from herald.webhooks.endpoints import EndpointStore
from herald.webhooks.sender import backoff_seconds


def test_delays_double_per_attempt_within_their_jitter() -> None:
    for attempt, full in [(1, 5), (2, 10), (3, 20), (4, 40)]:
        assert backoff_seconds(attempt, 5, 3600, rand=0.0) == full / 2
        assert backoff_seconds(attempt, 5, 3600, rand=1.0) == full


def test_delays_stop_growing_at_the_maximum() -> None:
    assert backoff_seconds(30, 5, 3600, rand=1.0) == 3600
    assert backoff_seconds(30, 5, 3600, rand=0.0) == 1800


def test_the_jitter_spreads_retries() -> None:
    delays = {backoff_seconds(3, 5, 3600) for _ in range(50)}
    assert len(delays) > 40 and all(10 <= d <= 20 for d in delays)


def store(production: bool) -> EndpointStore:
    return EndpointStore(None, production)  # type: ignore[arg-type] - the URL check needs no database


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/x",
                                 "http://10.1.2.3/x", "https://192.168.0.10/x", "https://169.254.169.254/x",
                                 "https://[::ffff:10.0.0.1]/x", "https://metadata.google.internal/x",
                                 "http://example.com/x"])
def test_production_refuses_loopback_private_metadata_and_plain_http(url: str) -> None:
    with pytest.raises(HeraldError) as refused:
        store(True).check_url(url)
    assert refused.value.status == 400 and refused.value.code == "invalid_request"
    assert '"url"' in refused.value.message


def test_development_allows_loopback_only() -> None:
    store(False).check_url("http://127.0.0.1:8080/hook")
    store(False).check_url("http://localhost:8080/hook")
    with pytest.raises(HeraldError):
        store(False).check_url("http://10.1.2.3/x")


def test_public_https_urls_are_allowed_in_production() -> None:
    store(True).check_url("https://api.example.com/hooks/herald")
    store(True).check_url("https://93.184.216.34/hooks")


async def test_a_public_name_that_resolves_to_loopback_is_never_connected_in_production(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the URL passes the check when added, its name answers 127.0.0.1 at send time."""
    from aiohttp.resolver import ThreadedResolver

    from herald.metrics import Metrics
    from herald.settings import Settings
    from herald.webhooks.sender import Claim, WebhookSender
    from tests.webhook_receiver import Listener

    listener = Listener()

    async def rebinding(self: object, host: str, port: int = 0, family: object = None) -> list[dict[str, object]]:
        return [{"hostname": host, "host": "127.0.0.1", "port": listener.port, "family": 2, "proto": 0, "flags": 0}]

    monkeypatch.setattr(ThreadedResolver, "resolve", rebinding)
    sender = WebhookSender(Settings(env="production"), None, Metrics())  # type: ignore[arg-type] - send needs no db
    sender._session = sender.new_session()
    try:
        result = await sender.send(Claim("msg_1", "e1", "read", "{}", 1, f"https://hooks.example.com:{listener.port}/x",
                                         "whsec_" + "A" * 44))
    finally:
        await sender._session.close()
        listener.close()
    assert result.outcome == "refused" and result.error == "address not allowed"
    assert listener.connections == 0


def test_webhook_settings_must_be_positive() -> None:
    from herald.settings import SettingsError, load_settings

    for name in ("TIMEOUT_SECONDS", "MAX_ATTEMPTS", "RETRY_BASE_SECONDS", "RETRY_MAX_SECONDS", "KEEP_SECONDS"):
        with pytest.raises(SettingsError, match=f"HERALD_WEBHOOK_{name}"):
            load_settings({f"HERALD_WEBHOOK_{name}": "0", "HERALD_SECRET": "s" * 32, "HERALD_API_KEYS": "k"})
