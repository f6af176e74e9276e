"""Where the shared data (openapi.yaml, fixtures/) lives: installed wheel or checkout."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import yaml

# libyaml's loader when PyYAML was built with it (its wheels are): the contract parses in ~0.06 s
# instead of ~0.4 s, which every run of the suite pays at start; the same documents either way.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """YAML (or JSON) text as data, with the safe loader (libyaml's when installed)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


def data_root() -> Path:
    """The directory holding openapi.yaml and fixtures/ (this package keeps its own copy of this)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "openapi.yaml").is_file() and (checkout / "fixtures").is_dir():
        return checkout  # a checkout (or an editable install of one): its files, not a stale copy
    # chat_contract_data is a data-only namespace directory of the wheel; look at its locations.
    spec = importlib.util.find_spec("chat_contract_data")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "openapi.yaml").is_file():
            return Path(location)
    return checkout


def contract_path() -> Path:
    return data_root() / "openapi.yaml"


def fixtures_dir() -> Path:
    return data_root() / "fixtures"


@cache
def load_yaml(relative: str) -> Any:
    """A fixture file by path relative to fixtures/ (None when it is absent)."""
    path = fixtures_dir() / relative
    if not path.is_file():
        return None
    return parse_yaml(path.read_text(encoding="utf-8"))
