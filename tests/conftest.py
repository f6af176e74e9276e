"""Hypothesis for the project's own tests: no per-example deadline and no too-slow health check.

Both are timings: on a shared or loaded machine they fail correct code (the developers' guide keeps
speed out of unit tests; bench/ measures it). Example counts stay as each test sets them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "project", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.load_profile("project")
