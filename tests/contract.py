"""Test-side access to openapi.yaml: component validators and SSE item validation.

The project's tests validate examples, fixtures and the mock's responses through this one module,
so the contract is read in one place and no schema is ever copied into a test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_PATH = ROOT / "openapi.yaml"
CONTRACT_URI = "urn:chat-contract-kit:openapi"


@cache
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text(encoding="utf-8"))


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(contract(), default_specification=DRAFT202012)
    return Registry().with_resource(CONTRACT_URI, resource)


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for a schema fragment whose `$ref`s point into the contract."""
    wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CONTRACT_URI + "#frag"}
    wrapped.update(_rebase(schema))
    return jsonschema.Draft202012Validator(
        wrapped, registry=_registry(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _rebase(node: Any) -> Any:
    """Point local `#/...` refs of a fragment at the contract document."""
    if isinstance(node, dict):
        return {
            k: (CONTRACT_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


def component(name: str) -> jsonschema.Draft202012Validator:
    return validator({"$ref": f"#/components/schemas/{name}"})


def resolve(node: Any) -> Any:
    """Follow a chain of local `$ref`s to the node they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = contract()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in contract()["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, op


def content_schema_errors(item: dict[str, Any], item_schema: dict[str, Any]) -> list[str]:
    """Validate one parsed SSE event: the item itself, then the JSON in `data` (contentSchema).

    jsonschema treats contentMediaType/contentSchema as annotations, so the JSON payload is checked
    here against the contentSchema of the first branch whose structural part accepts the item.
    """
    errors = [e.message for e in validator(item_schema).iter_errors(item)]
    if errors:
        return errors
    for branch in _branches(item_schema):
        if validator(branch).is_valid(item):
            data_schema = resolve(branch).get("properties", {}).get("data", {})
            if "contentSchema" in data_schema:
                try:
                    payload = json.loads(item["data"])
                except (KeyError, ValueError) as exc:
                    return [f"data is not JSON: {exc}"]
                return [e.message for e in validator(data_schema["contentSchema"]).iter_errors(payload)]
            return []
    return ["no branch of the item schema accepts the event"]


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    resolved = resolve(schema)
    return resolved.get("anyOf") or resolved.get("oneOf") or [schema]


def parse_sse(raw: str) -> list[dict[str, str]]:
    """Parse a complete SSE text into events (WHATWG line rules, for fixtures and examples).

    Unlike a browser, a frame with an `event:` line but no data (the `event: ping` keep-alive) is
    reported too, so that tests can see and validate keep-alives.
    """
    events: list[dict[str, str]] = []
    data: list[str] = []
    event: dict[str, str] = {}
    for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data or "event" in event:
                if data:
                    event["data"] = "\n".join(data)
                events.append(event)
            data, event = [], {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field in {"event", "id", "retry"}:
            event[field] = value
    return events
