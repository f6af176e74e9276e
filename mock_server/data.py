"""Where the contract and fixtures live: the installed data directory or the checkout."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def data_root() -> Path:
    """The directory holding openapi.yaml and fixtures/ (wheel data dir first, then the checkout)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "openapi.yaml").is_file() and (checkout / "fixtures").is_dir():
        return checkout  # a checkout (or an editable install of one): its files, not a stale copy
    # chat_contract_data is a data-only namespace directory of the wheel; look at its locations.
    spec = importlib.util.find_spec("chat_contract_data")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "openapi.yaml").is_file():
            return Path(location)
    return checkout
