"""The mock's settings, shared by the CLI and the app factory."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_API_KEY = "app-mock-dev-key"


def keys_from_env() -> list[str]:
    """API keys from CHAT_MOCK_API_KEYS (comma-separated), or [] when unset."""
    raw = os.environ.get("CHAT_MOCK_API_KEYS", "")
    return [k.strip() for k in raw.split(",") if k.strip()]


@dataclass
class MockConfig:
    """Everything that changes how the mock behaves.

    Pacing defaults are 0 here (tests want speed); the CLI sets realistic defaults for people.
    """

    api_keys: list[str] = field(default_factory=list)
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
            cfg.api_keys = keys_from_env() or [DEFAULT_API_KEY]
        return cfg

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
