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
