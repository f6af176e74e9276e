"""Register the suite's marker so importing its check modules here raises no unknown-mark warning."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(check_id, title, level): a conformance check")
