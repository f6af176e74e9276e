"""The contract of one era: openapi.yaml with the other eras' parts taken out.

One contract describes every era of the Chat App API (see its info.description): `x-eras` says in
which eras a node exists, `x-by-era` replaces keys of a node in a given era. Projecting the document
for an era gives a plain OpenAPI document that the rest of the mock reads as if it were the only one.
"""

from __future__ import annotations

import copy
from typing import Any

DEFAULT_ERA = "current"
PRESENCE, OVERRIDES = "x-eras", "x-by-era"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace", "query"}


def era_names(doc: dict[str, Any]) -> list[str]:
    """The eras the contract declares (`info.x-era-names`), the default first."""
    names = doc.get("info", {}).get("x-era-names") or [DEFAULT_ERA]
    return [str(n) for n in names]


def for_era(doc: dict[str, Any], era: str) -> dict[str, Any]:
    """A deep copy of `doc` as it reads in `era`; ValueError for an era the contract does not name."""
    names = era_names(doc)
    if era not in names:
        raise ValueError(f"unknown era {era!r} (the contract has: {', '.join(names)})")
    return _drop_empty_paths(_Projector(doc, era).project(copy.deepcopy(doc)))


class _Projector:
    def __init__(self, doc: dict[str, Any], era: str) -> None:
        self.doc, self.era = doc, era

    def present(self, node: Any) -> bool:
        """Whether `node` exists in the era; a `$ref` carries the marker of what it names."""
        if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
            target: Any = self.doc
            for part in node["$ref"][2:].split("/"):
                target = (
                    target.get(part.replace("~1", "/").replace("~0", "~"), {})
                    if isinstance(target, dict)
                    else {}
                )
            node = {**target, **node} if isinstance(target, dict) else node
        if not isinstance(node, dict) or PRESENCE not in node:
            return True
        return self.era in [str(e) for e in node[PRESENCE]]

    def project(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.project(item) for item in node if self.present(item)]
        if not isinstance(node, dict):
            return node
        node.update(copy.deepcopy((node.pop(OVERRIDES, None) or {}).get(self.era, {})))
        node.pop(PRESENCE, None)
        properties = node.get("properties")
        if isinstance(properties, dict) and isinstance(node.get("required"), list):
            absent = {name for name, schema in properties.items() if not self.present(schema)}
            node["required"] = [name for name in node["required"] if name not in absent]
        return {key: self.project(value) for key, value in node.items() if self.present(value)}


def _drop_empty_paths(doc: dict[str, Any]) -> dict[str, Any]:
    """Path items left with no operation (every method belonged to another era) go too."""
    paths = doc.get("paths", {})
    for path in [p for p, item in paths.items() if not HTTP_METHODS & set(item)]:
        del paths[path]
    return doc
