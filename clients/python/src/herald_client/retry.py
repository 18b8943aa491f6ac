"""When to ask again: exponential backoff with jitter, and Herald's ``Retry-After`` as the floor.

One policy for the producer's retries and the subscriber's reconnects, on
every transport. Jitter matters: after a restart, every client of a fleet
would otherwise come back in the same instant.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from herald_client.errors import HeraldError


@dataclass(frozen=True, slots=True)
class Backoff:
    base_seconds: float = 0.5
    """The first wait's ceiling; each later attempt doubles it."""
    max_seconds: float = 30.0
    """The longest wait between two attempts, jitter included."""
    max_retry_after_seconds: float = 120.0
    """A ``Retry-After`` longer than this is not waited out: the error is raised (a producer should not hang)."""

    def delay(self, attempt: int, error: HeraldError | None = None) -> float:
        """Seconds before attempt ``attempt + 1`` (0 is the first retry): random in [c/2, c], c = min(max, base * 2^n).

        Herald's ``Retry-After`` is honoured as a minimum, with up to 10 % added so that
        the clients it throttled together do not return together.
        """
        ceiling = min(self.max_seconds, self.base_seconds * 2.0 ** min(attempt, 30))
        wait = ceiling / 2 + random.random() * ceiling / 2
        if error is not None and error.retry_after is not None:
            wait = max(wait, error.retry_after * (1 + random.random() / 10))
        return wait

    def waits_out(self, error: HeraldError) -> bool:
        return error.retry_after is None or error.retry_after <= self.max_retry_after_seconds
