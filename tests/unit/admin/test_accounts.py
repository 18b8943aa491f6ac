"""Admin sign-in, sessions, CSRF and the login throttle, against a real server."""
from __future__ import annotations

import pytest

from herald.admin.accounts import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_lockout_doubles_and_is_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("herald.admin.accounts.time.monotonic", clock)
    throttle = LoginThrottle(free_per_user=3, free_per_address=100, base_seconds=10, max_seconds=35, forget_seconds=600)
    for _ in range(2):
        throttle.failed("ann", "1.2.3.4")
        assert throttle.check("ann", "1.2.3.4") is None
    throttle.failed("ann", "1.2.3.4")
    assert throttle.check("ann", "1.2.3.4") == 10
    assert throttle.check("ANN", "5.6.7.8") == 10  # per username, whatever the address or case
    clock.now += 10
    assert throttle.check("ann", "1.2.3.4") is None
    throttle.failed("ann", "1.2.3.4")
    assert throttle.check("ann", "1.2.3.4") == 20
    clock.now += 20
    throttle.failed("ann", "1.2.3.4")
    assert throttle.check("ann", "1.2.3.4") == 35  # capped
    clock.now += 600 + 35
    throttle.failed("ann", "1.2.3.4")  # long quiet: the count starts again
    assert throttle.check("ann", "1.2.3.4") is None


def test_throttle_counts_addresses_and_success_clears_only_the_username(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("herald.admin.accounts.time.monotonic", Clock())
    throttle = LoginThrottle(free_per_user=5, free_per_address=3, base_seconds=30)
    for name in ("a", "b", "c"):
        throttle.failed(name, "9.9.9.9")
    assert throttle.check("d", "9.9.9.9") == 30  # guessing across usernames from one address
    assert throttle.check("d", "8.8.8.8") is None
    throttle.succeeded("a")
    assert throttle.check("a", "9.9.9.9") == 30
