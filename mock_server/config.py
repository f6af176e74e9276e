"""The mock's settings, shared by the CLI and the app factory."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_API_KEY = "app-mock-dev-key"
# The settings' ranges (the per-request headers have the same delay bounds, limits.BOUNDS).
CONFIG_BOUNDS: dict[str, tuple[float, float]] = {
    "ttft_ms": (0, 600_000),
    "token_interval_ms": (0, 60_000),
    "jitter_ms": (0, 60_000),
    "seed": (0, 2**63 - 1),
    "ping_interval_s": (0, 3_600),
    "stall_max_s": (0, 3_600),
    "journal_size": (0, 10_000_000),
    "max_upload_mb": (1, 4_096),
    "body_timeout_s": (0, 3_600),
    "replay_speed": (0, 1_000),
}


def keys_from_env() -> list[str]:
    """API keys from CHAT_MOCK_API_KEYS (comma-separated), or [] when unset."""
    raw = os.environ.get("CHAT_MOCK_API_KEYS", "")
    return [k.strip() for k in raw.split(",") if k.strip()]


@dataclass
class MockConfig:
    """Everything that changes how the mock behaves.

    Pacing defaults are 0 here (tests want speed); the CLI sets realistic defaults for people.
    """

    api_keys: list[str] = field(default_factory=list)  # [] = the apps' own keys (fixtures/apps)
    app_bindings: dict[str, str] = field(default_factory=dict)  # key -> app name (`--app KEY=NAME`)
    store: str | None = None  # SQLite file; None = a private temp file
    contract_path: str | None = None  # default: data_root()/openapi.yaml
    fixtures_dir: str | None = None  # default: data_root()/fixtures
    ttft_ms: float = 0.0
    token_interval_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0
    ping_interval_s: float = 10.0
    stall_max_s: float = 30.0
    journal_size: int = 1000
    admin_token: str | None = None
    era: str = "current"  # the era of the Chat App API to serve (the contract's x-era-names)
    max_upload_mb: int = 64  # hard cap on request bodies (the audio limit is the contract's)
    body_timeout_s: float = 5.0  # gunicorn: a request body must arrive within this (0 = no limit)
    # The key signing file links (/files/<id>/file-preview); None: a random one per app. chat-mock
    # makes one per start before gunicorn forks, so every worker of a start signs alike. Never shown.
    link_key: str | None = field(default=None, repr=False)
    # Recorded apps (`--app-dir`, mock_server/recording/), each served under its own key; a value of
    # app_bindings may be a recording directory too (`--app KEY=DIR`).
    app_dirs: list[str] = field(default_factory=list)
    replay_speed: float = 1.0  # their timing: 1 as recorded, 2 twice as fast, 0 no waits
    replay_fallback: str | None = None  # nearest | answer | error: overrides each recording's own

    @classmethod
    def coerce(cls, value: MockConfig | dict[str, Any] | None) -> MockConfig:
        """Accept a MockConfig, a plain dict of its fields, or None (defaults + env keys)."""
        if isinstance(value, MockConfig):
            cfg = value
        else:
            data = dict(value or {})
            known = {f.name for f in fields(cls)}
            unknown = set(data) - known
            if unknown:
                raise ValueError(f"unknown mock config keys: {sorted(unknown)}")
            cfg = cls(**data)
        if not cfg.api_keys:
            cfg.api_keys = keys_from_env()  # still empty: the apps' keys (see accepted_keys)
        problem = cfg.problem()
        if problem:
            raise ValueError(f"mock config: {problem}")
        return cfg

    def problem(self) -> str | None:
        """Why a number of this config cannot be served (NaN, infinite, out of range), or None."""
        for name, (low, high) in CONFIG_BOUNDS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{name} must be a number, got {value!r}"
            if not math.isfinite(value) or not low <= value <= high:
                return f"{name} must be within {low}..{high}, got {value!r}"
        return None

    def accepted_keys(self, app_keys: list[str], recorded_keys: list[str] | None = None) -> list[str]:
        """The keys to accept: those given (else the apps' own `app_keys`), plus the `--app` keys and
        the recorded apps' keys."""
        keys = list(self.api_keys or app_keys)
        keys += [k for k in self.app_bindings if k not in keys]
        return keys + [k for k in recorded_keys or [] if k not in keys]

    @property
    def primary_key(self) -> str:
        """The key that owns the seeded fixture data."""
        return self.api_keys[0]

    def fixtures_path(self) -> Path:
        from mock_server.data import data_root

        return Path(self.fixtures_dir) if self.fixtures_dir else data_root() / "fixtures"

    def contract_file(self) -> Path:
        from mock_server.data import data_root

        return Path(self.contract_path) if self.contract_path else data_root() / "openapi.yaml"
