"""The contract as validators: every schema the suite checks against is read from openapi.yaml.

No response shape is written in this package; a check names an operation, a status and a media
type and gets the contract's schema for it, so the suite follows the contract when it changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from conformance import formats
from conformance.data import contract_path, parse_yaml
from conformance.eras import DEFAULT_ERA, declared_eras, view

CONTRACT_URI = "urn:chat-contract-kit:openapi"
METHODS = ("get", "post", "put", "patch", "delete")


_selected = {"era": DEFAULT_ERA}


@cache
def whole_document() -> dict[str, Any]:
    """openapi.yaml as written: every era, with its markers. A format the suite cannot assert would
    pass any value in silence: such a contract is refused (conformance.formats)."""
    doc = parse_yaml(contract_path().read_text(encoding="utf-8"))
    unknown = formats.unasserted(doc)
    if unknown:
        raise ValueError(
            f"{contract_path()}: format(s) {', '.join(unknown)} cannot be asserted by the suite "
            "(conformance/formats.py holds the ones it asserts)"
        )
    return doc


def eras() -> list[str]:
    return declared_eras(whole_document())


def operation_ids(era: str) -> set[str]:
    """Every operationId of `era`'s contract (of every surface)."""
    paths = view(whole_document(), era).get("paths", {})
    return {item[method]["operationId"] for item in paths.values() for method in METHODS if method in item}


def use_era(era: str) -> None:
    """Judge `era` from now on (the plugin calls this before any check module is collected)."""
    view(whole_document(), era)  # raises ValueError for an era the contract does not know
    if era != _selected["era"]:
        _selected["era"] = era
        for cached in (document, _registry, _rs_registry, operations):
            cached.cache_clear()
        _FAST.clear()


def era() -> str:
    """The era being judged."""
    return _selected["era"]


@cache
def document() -> dict[str, Any]:
    """The contract of the era being judged (see use_era)."""
    return view(whole_document(), _selected["era"])


@cache
def _registry() -> Registry:
    return Registry().with_resource(
        CONTRACT_URI, Resource.from_contents(document(), default_specification=DRAFT202012)
    )


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (CONTRACT_URI + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _rebase(v))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rebase(v) for v in node]
    return node


_VALIDATORS: dict[int, tuple[Any, jsonschema.Draft202012Validator]] = {}
_VALIDATORS_MAX = 1024


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    """A Draft 2020-12 validator (formats asserted) for a fragment whose refs point into the contract.

    Built once per schema object (the contract's schemas live as long as the cached document): a load
    run validates thousands of stream events a second, and building a validator costs more than using it.
    """
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    wrapped = {"$id": CONTRACT_URI + "#fragment", **_rebase(schema)}
    built = jsonschema.Draft202012Validator(
        wrapped, registry=_registry(), format_checker=formats.FORMAT_CHECKER
    )
    if len(_VALIDATORS) >= _VALIDATORS_MAX:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, built)  # the entry keeps the schema alive, so its id stays its own
    return built


@cache
def _rs_registry() -> Any:
    return jsonschema_rs.Registry([(CONTRACT_URI, document())])


_FAST: dict[int, tuple[Any, Any]] = {}


def fast_validator(schema: dict[str, Any]) -> Any:
    """jsonschema_rs's compiled validator for a fragment of the contract (None: it cannot take it).

    It answers "valid?" in microseconds where jsonschema walks the schema in Python for a few hundred
    (a load run judges thousands of answers and events a second). Formats are the suite's own
    (conformance.formats), as for jsonschema: both engines judge alike.
    """
    hit = _FAST.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    try:
        built = jsonschema_rs.validator_for(
            {"$schema": "https://json-schema.org/draft/2020-12/schema", **_rebase(schema)},
            registry=_rs_registry(),
            validate_formats=True,
            formats=formats.checkers(),
        )
    except Exception:  # a schema jsonschema_rs cannot compile: jsonschema alone judges it
        built = None
    if len(_FAST) >= _VALIDATORS_MAX:
        _FAST.clear()
    _FAST[id(schema)] = (schema, built)
    return built


def _fast_valid(schema: dict[str, Any], instance: Any) -> bool:
    fast = fast_validator(schema)
    try:
        return fast is not None and bool(fast.is_valid(instance))
    except Exception:  # an instance it cannot take (an integer beyond 64 bits): jsonschema decides
        return False


def _fast_errors(schema: dict[str, Any], instance: Any, limit: int) -> list[str]:
    fast = fast_validator(schema)
    out: list[str] = []
    try:
        for err in fast.iter_errors(instance) if fast is not None else ():
            where = "/".join(str(p) for p in err.instance_path) or "(root)"
            out.append(f"{where}: {str(err.message)[:200]}")
            if len(out) >= limit:
                break
    except Exception:
        return out
    return out


def resolve(node: Any) -> Any:
    """Follow local `$ref`s to the node they name."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def schema_errors(schema: dict[str, Any], instance: Any, limit: int = 3) -> list[str]:
    """Short, readable validation errors (path: message).

    jsonschema_rs answers first (a valid answer, the usual case, costs microseconds), then jsonschema
    gives the messages of an invalid one (both assert the suite's own formats, conformance.formats);
    should jsonschema find nothing, jsonschema_rs's own messages stand.
    """
    if _fast_valid(schema, instance):
        return []
    return _readable(validator(schema).iter_errors(instance), limit) or _fast_errors(schema, instance, limit)


def _readable(errors: Iterator[Any], limit: int) -> list[str]:
    out = []
    for err in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        line = f"{where}: {err.message[:200]}"
        if line not in out:  # a field under two schemas (allOf) fails twice the same way
            out.append(line)
        if len(out) >= limit:
            break
    return out


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path: str
    tag: str
    spec: dict[str, Any]

    def response(self, status: int | str) -> dict[str, Any] | None:
        responses = self.spec.get("responses", {})
        node = responses.get(str(status))
        return resolve(node) if node is not None else None

    def media(self, status: int | str, media_type: str) -> dict[str, Any] | None:
        resp = self.response(status)
        if not resp:
            return None
        return resp.get("content", {}).get(media_type)

    def body_schema(self, status: int | str, media_type: str = "application/json") -> dict[str, Any] | None:
        media = self.media(status, media_type)
        return media.get("schema") if media else None

    def item_schema(self, status: int | str = 200) -> dict[str, Any] | None:
        media = self.media(status, "text/event-stream")
        return media.get("itemSchema") if media else None

    def request_example(self) -> tuple[str | None, Any]:
        """(media type, example value) of the request body, from the contract's examples."""
        body = resolve(self.spec.get("requestBody"))
        if not body:
            return None, None
        for media_type, media in body.get("content", {}).items():
            if "example" in media:
                return media_type, media["example"]
            for ex in media.get("examples", {}).values():
                ex = resolve(ex)
                if "value" in ex:
                    return media_type, ex["value"]
            return media_type, None
        return None, None

    def path_params(self) -> list[str]:
        names = []
        for p in self.spec.get("parameters", []):
            p = resolve(p)
            if p.get("in") == "path":
                names.append(p["name"])
        return names

    def query_schema(self, name: str) -> dict[str, Any]:
        """The schema of query parameter `name` (bounds, defaults) as the contract declares it."""
        for p in self.spec.get("parameters", []):
            p = resolve(p)
            if p.get("in") == "query" and p.get("name") == name:
                return resolve(p["schema"])
        raise KeyError(f"{self.operation_id} has no query parameter {name!r}")

    def parameter(self, name: str, location: str = "query") -> dict[str, Any] | None:
        """The parameter `name` in `location` as the judged era declares it (None: it has none)."""
        for p in self.spec.get("parameters", []):
            p = resolve(p)
            if p.get("in") == location and p.get("name") == name:
                return p
        return None

    def accepts_parameter(self, name: str, value: Any, location: str = "query") -> bool:
        """Whether the era's contract lets `value` through as parameter `name`."""
        p = self.parameter(name, location)
        return p is not None and validator(p.get("schema", {})).is_valid(value)

    def body_requires(self, name: str, media_type: str = "application/json") -> bool:
        """Whether the era's contract requires request body field `name`."""
        body = resolve(self.spec.get("requestBody")) or {}
        schema = resolve(body.get("content", {}).get(media_type, {}).get("schema", {}))
        return name in (schema.get("required") or [])

    def boundary_values(self, name: str) -> tuple[int, int, int, int]:
        """(below minimum, minimum, maximum, above maximum) of an integer query parameter."""
        schema = self.query_schema(name)
        low, high = int(schema["minimum"]), int(schema["maximum"])
        return low - 1, low, high, high + 1

    def error_schema(self) -> dict[str, Any] | None:
        """The surface's error envelope: the schema of this operation's 401 response."""
        return self.body_schema(401)


@cache
def operations() -> tuple[Operation, ...]:
    out = []
    for path, item in document()["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                tag = (op.get("tags") or ["untagged"])[0]
                out.append(Operation(op["operationId"], method.upper(), path, tag, op))
    return tuple(out)


def operation(operation_id: str) -> Operation:
    for op in operations():
        if op.operation_id == operation_id:
            return op
    raise KeyError(operation_id)


def operation_or_skip(operation_id: str) -> Operation:
    """The operation, or a skip of the calling check when the judged era's API has none (2023)."""
    try:
        return operation(operation_id)
    except KeyError:
        pytest.skip(f"{operation_id} is not part of the judged era's API ({era()})")


def item_errors(item_schema: dict[str, Any], item: dict[str, Any]) -> list[str]:
    """Validate one parsed SSE event against `itemSchema`, then its `data` JSON against `contentSchema`.

    jsonschema treats contentMediaType/contentSchema as annotations, so the JSON payload is checked
    here, against the contentSchema of the first branch whose structural part accepts the item.
    A data-only event whose payload the schema of its own event type accepts (the discriminator's
    mapping names it) is judged by that schema alone: the same judgement at ~1/40 of the cost of
    walking every branch (a stream has dozens of events, a load run thousands a second), and its
    errors name the field at fault ("created_at: ... is not of type 'integer'") instead of the whole
    event. Any other event takes the full walk.
    """
    own = _own_event_validator(item_schema, item)
    if own is not None:  # a data-only event of a type the contract names: judged by that type's schema
        (check, ref), payload = own
        if _fast_valid(ref, payload):
            return []
        return _readable(check.iter_errors(payload), 3) or _fast_errors(ref, payload, 3)
    return walk_errors(item_schema, item)


def walk_errors(item_schema: dict[str, Any], item: dict[str, Any]) -> list[str]:
    """item_errors the long way: the whole item schema, then the data of the branch that accepts it."""
    errors = schema_errors(item_schema, item)
    if errors:
        return errors
    for branch in _branches(item_schema):
        if validator(branch).is_valid(item):
            data_schema = resolve(branch).get("properties", {}).get("data", {})
            if "contentSchema" not in data_schema:
                return []
            try:
                payload = json.loads(item["data"])
            except (KeyError, ValueError) as exc:
                return [f"data is not JSON: {exc}"]
            return schema_errors(data_schema["contentSchema"], payload)
    return ["no branch of the item schema accepts the event"]


def _own_event_validator(item_schema: dict[str, Any], item: dict[str, Any]) -> tuple[Any, Any] | None:
    """(the validator of the event's own type, its payload) for a data-only event of a named type."""
    data_only = set(item) <= {"data", "event", "id"} and item.get("event", "message") == "message"
    if "data" not in item or not data_only:
        return None
    try:
        payload = json.loads(item["data"])
    except (TypeError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        return None
    check = _event_validators(item_schema).get(payload["event"])
    return (check, payload) if check is not None else None


_EVENT_VALIDATORS: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}


def _event_validators(item_schema: dict[str, Any]) -> dict[str, Any]:
    """The validator of each event type named in the discriminator mappings of the item schema's
    branches, built once per schema object (the entry keeps the schema alive, so its id stays its own)."""
    hit = _EVENT_VALIDATORS.get(id(item_schema))
    if hit is not None and hit[0] is item_schema:
        return hit[1]
    out: dict[str, Any] = {}
    for branch in _branches(item_schema):
        data = resolve(branch).get("properties", {}).get("data", {})
        content = resolve(data.get("contentSchema", {}))
        for event, target in content.get("discriminator", {}).get("mapping", {}).items():
            ref = {"$ref": target}  # kept in the entry: fast_validator caches by the schema's id
            try:
                out[event] = (
                    jsonschema.Draft202012Validator(_inline(ref), format_checker=formats.FORMAT_CHECKER),
                    ref,
                )
            except RecursionError:
                out[event] = (validator(ref), ref)
            except KeyError:  # a type of another era (the era's view dropped its schema): the full walk
                continue
    _EVENT_VALIDATORS[id(item_schema)] = (item_schema, out)
    return out


def _inline(node: Any, depth: int = 0) -> Any:
    """The schema with the contract's local `$ref`s replaced by their targets (no registry lookups)."""
    if depth > 32:
        raise RecursionError("a recursive schema cannot be inlined")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target = _inline(resolve({"$ref": ref}), depth + 1)
            rest = {k: _inline(v, depth + 1) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target, rest]} if rest else target
        return {k: _inline(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, depth + 1) for v in node]
    return node


def _branches(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    resolved = resolve(schema)
    yield from resolved.get("anyOf") or resolved.get("oneOf") or [schema]
