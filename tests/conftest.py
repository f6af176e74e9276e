"""Hypothesis for the project's own tests: no per-example deadline and no too-slow health check.

Both are timings: on a shared or loaded machine they fail correct code (the developers' guide keeps
speed out of unit tests; bench/ measures it). Example counts stay as each test sets them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# hypothesis keeps its caches in ./.hypothesis by default: the project's tests leave nothing in the
# checkout. The environment carries the place to the processes the tests start (the suite honours it).
_HOME = Path(tempfile.gettempdir()) / f"chat-contract-kit-tests-hypothesis-{os.getuid()}"
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(_HOME))

# `pytest -p conformance.plugin` run in the checkout loads this file too, from an install that may
# have no hypothesis (it comes with the [conformance] extra): the profile is then nobody's business.
try:
    from hypothesis import HealthCheck, settings
    from hypothesis.configuration import set_hypothesis_home_dir
except ImportError:
    settings = None

if settings is not None:
    set_hypothesis_home_dir(os.environ["HYPOTHESIS_STORAGE_DIRECTORY"])
    settings.register_profile(
        "project", deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
    )
    settings.load_profile("project")
