"""Bounds the contract sets only to give fuzzing a range (`x-fuzz-bound`), which no server must enforce.

A schema lists such keywords in `x-fuzz-bound` (e.g. `[maxLength]` on `UserId`: real servers take a
`user` of any length). Generation keeps them, so fuzzing stays in a sensible range, but a server that
accepts a request outside them is right: a negative-data finding whose request is valid once those
keywords are set aside is no finding (SPEC_NOTES S15). Every other bound stays a MUST. A form body
is judged as its text reaches the server (SPEC_NOTES K4).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance import contract
from conformance.formats import FORMAT_CHECKER

MARKER = "x-fuzz-bound"
RELAXED_URI = "urn:chat-contract-kit:openapi-without-fuzz-bounds"
JUDGED_LOCATIONS = ("query", "path", "body")  # a negative header or cookie is never set aside


def without_fuzz_bounds(node: Any) -> Any:
    """A copy of `node` with every keyword its schemas list in `x-fuzz-bound` removed."""
    if isinstance(node, list):
        return [without_fuzz_bounds(item) for item in node]
    if not isinstance(node, dict):
        return node
    dropped = set(node.get(MARKER) or ())
    return {k: without_fuzz_bounds(v) for k, v in node.items() if k not in dropped and k != MARKER}


def fuzz_bounds(node: Any, path: str = "") -> list[tuple[str, list[str]]]:
    """(where, keywords) of every `x-fuzz-bound` marker under `node`: for docs and tests."""
    found: list[tuple[str, list[str]]] = []
    if isinstance(node, dict):
        if MARKER in node:
            found.append((path or "/", list(node[MARKER])))
        for k, v in node.items():
            found += fuzz_bounds(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found += fuzz_bounds(v, f"{path}/{i}")
    return found


@cache
def _relaxed(era: str) -> tuple[dict[str, Any], Registry]:
    document = without_fuzz_bounds(copy.deepcopy(contract.document()))
    registry = Registry().with_resource(
        RELAXED_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return document, registry


def _resolve(node: Any, document: dict[str, Any]) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (RELAXED_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


_VALIDATORS: dict[int, tuple[Any, jsonschema.Draft202012Validator]] = {}


def _valid(schema: dict[str, Any], value: Any, registry: Registry) -> bool:
    """Validate against a fragment of the relaxed contract (validators built once per fragment)."""
    hit = _VALIDATORS.get(id(schema))
    if hit is None or hit[0] is not schema:
        wrapped = {"$id": RELAXED_URI + "#fragment", **_rebase(schema)}
        checker = FORMAT_CHECKER
        built = jsonschema.Draft202012Validator(wrapped, registry=registry, format_checker=checker)
        hit = _VALIDATORS[id(schema)] = (schema, built)  # the entry keeps the fragment alive
    return hit[1].is_valid(value)


def _as_sent(schema: dict[str, Any], value: Any) -> Any:
    """A query or path value as the schema reads it: on the wire it is text, so "42" of an integer
    parameter is the integer 42 (schemathesis hands some cases over as text)."""
    types = schema.get("type")
    types = set(types) if isinstance(types, list) else {types}
    if isinstance(value, str) and types & {"integer", "number"}:
        try:
            return int(value) if "integer" in types else float(value)
        except ValueError:
            return value
    return value


def valid_without_fuzz_bounds(
    operation_id: str, query: dict[str, Any] | None, path: dict[str, Any] | None, body: Any, media: str | None
) -> bool:
    """Whether a request is valid against the operation once its fuzz-only bounds are set aside."""
    document, registry = _relaxed(contract.era())
    op = next((o for o in contract.operations() if o.operation_id == operation_id), None)
    if op is None:
        return False
    spec = document["paths"][op.path][op.method.lower()]
    parameters = [_resolve(p, document) for p in spec.get("parameters", [])]
    values = {"query": query or {}, "path": path or {}}
    for p in parameters:
        where = values.get(p.get("in"))
        if where is None:
            continue
        if p["name"] not in where:
            if p.get("required"):
                return False
            continue
        schema = p.get("schema", {})
        if not _valid(schema, _as_sent(_resolve(schema, document), where[p["name"]]), registry):
            return False
    request = _resolve(spec.get("requestBody"), document) or {}
    content = request.get("content", {})
    if body is None:
        return not request.get("required")
    if media in FORM_MEDIA and isinstance(body, dict):
        body = {name: as_form_text(value) for name, value in body.items()}
    schema = (content.get(media or "application/json") or {}).get("schema")
    return schema is not None and _valid(schema, body, registry)


# A form carries text: a number, a boolean or null in a form field (a file part's content too) reaches
# the server as its text, the same bytes as a string holding it, so no server can tell it from one.
FORM_MEDIA = ("multipart/form-data", "application/x-www-form-urlencoded")


def as_form_text(value: Any) -> Any:
    """A scalar as a form field carries it (JSON text); strings, bytes and structures as they are."""
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return value
