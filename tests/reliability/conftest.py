"""Fixtures of the reliability suite: faults with real processes, fuzzing, hostile input."""
from __future__ import annotations

from hypothesis import HealthCheck, settings

# Every example here is an HTTP round trip (or several): no per-example deadline, no example
# database in the working tree (CI starts clean anyway), and a bounded number of examples.
settings.register_profile("herald", deadline=None, database=None, max_examples=50,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.load_profile("herald")
