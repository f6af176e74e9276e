"""Timestamps: where the contract puts one (`UnixSeconds`) and when a value is a plausible one.

The contract types every time as `#/components/schemas/UnixSeconds` (an integer >= 0), which a
value in milliseconds also satisfies; a judge must also ask whether the value is a time this server
could have written (SPEC_NOTES S7). The places are found by walking an instance along its schema, so
a field the contract adds is judged without a change here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from conformance import contract

TIMESTAMP_REF = "#/components/schemas/UnixSeconds"
EARLIEST = 1577836800  # 2020-01-01: anything older is not a plausible creation time
AHEAD = 86400  # clocks drift, but not by more than a day
PLAUSIBLE = "unix seconds, after 2020-01-01 and at most a day ahead"


def plausible(value: Any, now: float | None = None) -> bool:
    """An integer Unix time in seconds between 2020-01-01 and a day from now (not ms, not a string)."""
    now = time.time() if now is None else now
    return isinstance(value, int) and not isinstance(value, bool) and EARLIEST <= value <= now + AHEAD


def timestamps(schema: Any, instance: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(path, value) of every value of `instance` that `schema` types as UnixSeconds."""
    if depth > 32 or not isinstance(schema, dict):
        return
    if schema.get("$ref") == TIMESTAMP_REF:
        yield path or "(root)", instance
        return
    node = contract.resolve(schema) if "$ref" in schema else schema
    if not isinstance(node, dict):
        return
    for part in node.get("allOf") or []:
        yield from timestamps(part, instance, path, depth + 1)
    for key in ("anyOf", "oneOf"):
        for branch in node.get(key) or []:
            if contract.validator(branch).is_valid(instance):
                yield from timestamps(branch, instance, path, depth + 1)
                break
    if isinstance(instance, dict):
        for name, sub in (node.get("properties") or {}).items():
            if name in instance:
                yield from timestamps(sub, instance[name], f"{path}.{name}" if path else name, depth + 1)
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(instance):
            yield from timestamps(node["items"], item, f"{path}[{i}]", depth + 1)
