"""Which era of the Chat App API the suite judges, and the contract as that era reads it.

The contract marks era-only parts with `x-eras` and era-specific values with `x-by-era` (its
info.description explains both). The suite reads these markers itself (it shares the contract with
the mock, never code), so a projection bug in one cannot hide the same bug in the other.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_ERA = "current"


def declared_eras(document: dict[str, Any]) -> list[str]:
    """The era names of `info.x-era-names` (the first is the default)."""
    return [str(name) for name in document.get("info", {}).get("x-era-names", [DEFAULT_ERA])]


def exists_in(node: Any, era: str, document: dict[str, Any]) -> bool:
    """False when `node` (or the component its `$ref` names) is marked for other eras only."""
    if not isinstance(node, dict):
        return True
    marker = node.get("x-eras")
    ref = node.get("$ref")
    if marker is None and isinstance(ref, str) and ref.startswith("#/"):
        target: Any = document
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, dict) else None
            )
        marker = target.get("x-eras") if isinstance(target, dict) else None
    return marker is None or era in {str(e) for e in marker}


def view(document: dict[str, Any], era: str) -> dict[str, Any]:
    """The contract of `era`: other eras' nodes removed, `x-by-era` values applied, markers gone."""
    if era not in declared_eras(document):
        raise ValueError(f"the contract knows no era {era!r}; it knows {', '.join(declared_eras(document))}")

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(item) for item in node if exists_in(item, era, document)]
        if not isinstance(node, dict):
            return node
        merged = {k: v for k, v in node.items() if k not in ("x-eras", "x-by-era")}
        merged.update(copy.deepcopy(node.get("x-by-era", {}).get(era, {})))
        properties = merged.get("properties")
        if isinstance(properties, dict) and isinstance(merged.get("required"), list):
            gone = {name for name, schema in properties.items() if not exists_in(schema, era, document)}
            merged["required"] = [name for name in merged["required"] if name not in gone]
        return {k: walk(v) for k, v in merged.items() if exists_in(v, era, document)}

    out = walk(document)
    out["paths"] = {
        path: item
        for path, item in out.get("paths", {}).items()
        if any(m in item for m in ("get", "put", "post", "delete", "patch", "head", "options", "trace"))
    }
    return out
