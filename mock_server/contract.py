"""Read openapi.yaml into route descriptions and compiled request validators.

Everything the mock knows about routes, parameters and request bodies comes from here, so the
contract stays the single source of truth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import jsonschema_rs
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mock_server.eras import DEFAULT_ERA, era_names, for_era
from mock_server.yamlload import load_yaml

CONTRACT_URI = "urn:chat-contract-kit:openapi"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass
class Parameter:
    name: str
    location: str  # query | path | header
    required: bool
    schema: dict[str, Any]
    validator: jsonschema.Draft202012Validator
    quick_check: Callable[[Any], bool] = lambda _instance: False  # True: valid, no need to ask `validator`


@dataclass
class Operation:
    """One contract operation, ready to be served."""

    operation_id: str
    method: str  # upper case
    path: str  # contract path key, e.g. /messages/{message_id}/feedbacks
    base_path: str  # server base path, e.g. /v1 or ""
    tag: str
    parameters: list[Parameter]
    body_required: bool
    body_validators: dict[str, jsonschema.Draft202012Validator]  # media type -> validator
    body_schemas: dict[str, dict[str, Any]]
    raw: dict[str, Any] = field(repr=False)
    body_quick_checks: dict[str, Callable[[Any], bool]] = field(default_factory=dict, repr=False)
    # media type -> {top-level body property: its maxItems}: checked before the schema walk, whose work
    # grows with the list (10,000 `files` took seconds to refuse)
    body_item_limits: dict[str, dict[str, int]] = field(default_factory=dict, repr=False)
    # top-level body property -> the default the contract declares for it (the first media type's
    # that declares one): read once here, not walked per request
    body_defaults: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url_rule(self) -> str:
        """The Flask rule: base path + path with `{x}` turned into `<x>`."""
        return self.base_path + re.sub(r"\{([^}]+)\}", r"<\1>", self.path)


class Contract:
    """The parsed contract of one era plus a `referencing` registry over that era's document."""

    def __init__(self, path: Path, era: str = DEFAULT_ERA) -> None:
        self.path = path
        self.era = era
        whole: dict[str, Any] = load_yaml(path.read_text(encoding="utf-8"))
        self.eras = era_names(whole)
        self.doc: dict[str, Any] = for_era(whole, era)
        resource = Resource.from_contents(self.doc, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(CONTRACT_URI, resource)
        self._rs_registry = jsonschema_rs.Registry([(CONTRACT_URI, self.doc)])
        self.operations: list[Operation] = list(self._operations())

    def resolve(self, node: Any) -> Any:
        """Follow local `$ref`s to the node they name."""
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        """A Draft 2020-12 validator for a fragment whose `$ref`s point into the contract."""
        wrapped = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": CONTRACT_URI + "#frag"}
        wrapped.update(_rebase(schema))
        return jsonschema.Draft202012Validator(
            wrapped, registry=self.registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

    def quick_check(self, schema: dict[str, Any]) -> Callable[[Any], bool]:
        """A fast "is this instance valid?" for a fragment of the contract, compiled once.

        jsonschema_rs answers in microseconds where jsonschema takes a few hundred (it resolves every
        `$ref` on each call). Only a True is trusted: on False (or anything it cannot take, such as an
        integer beyond 64 bits), the caller asks the jsonschema validator, whose messages the mock
        answers with and whose verdict stands. Formats: jsonschema_rs checks every format it knows,
        jsonschema only those with a checker installed, so it is never the more lenient of the two.
        """
        try:
            compiled = jsonschema_rs.validator_for(
                {"$schema": "https://json-schema.org/draft/2020-12/schema", **_rebase(schema)},
                registry=self._rs_registry,
                validate_formats=True,
            )
        except Exception:  # a schema jsonschema_rs cannot compile: jsonschema alone decides
            return lambda _instance: False

        def check(instance: Any) -> bool:
            try:
                return compiled.is_valid(instance)
            except Exception:
                return False

        return check

    def item_limits(self, schema: dict[str, Any]) -> dict[str, int]:
        """{property: maxItems} of an object schema's top-level list properties that have one."""
        props = self.resolve(schema).get("properties") or {}
        found = {name: self.resolve(prop).get("maxItems") for name, prop in props.items()}
        return {name: most for name, most in found.items() if isinstance(most, int)}

    def body_defaults(self, schemas: list[dict[str, Any]]) -> dict[str, Any]:
        """{property: default} of the top-level properties of body schemas; the first schema's wins."""
        out: dict[str, Any] = {}
        for schema in schemas:
            for name, prop in (self.resolve(schema).get("properties") or {}).items():
                prop = self.resolve(prop)
                if "default" in prop:
                    out.setdefault(name, prop["default"])
        return out

    def component_validator(self, name: str) -> jsonschema.Draft202012Validator:
        """A (cached) validator for components/schemas/<name>; KeyError when the contract has none."""
        cache = self.__dict__.setdefault("_component_validators", {})
        if name not in cache:
            if name not in self.doc.get("components", {}).get("schemas", {}):
                raise KeyError(f"the contract has no components/schemas/{name}")
            cache[name] = self.validator({"$ref": f"#/components/schemas/{name}"})
        return cache[name]

    def _base_path(self, *levels: dict[str, Any]) -> str:
        for level in levels:
            servers = level.get("servers")
            if servers:
                return urlparse(servers[0]["url"]).path.rstrip("/")
        return ""

    def _operations(self):
        for path, item in self.doc.get("paths", {}).items():
            item = self.resolve(item)
            shared = [self.resolve(p) for p in item.get("parameters", [])]
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                op = item[method]
                params = {(p["name"], p["in"]): p for p in shared}
                params.update({(p["name"], p["in"]): p for p in map(self.resolve, op.get("parameters", []))})
                body = self.resolve(op.get("requestBody", {}))
                content = body.get("content", {})
                media = content.items()
                yield Operation(
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    base_path=self._base_path(op, item, self.doc),
                    tag=(op.get("tags") or ["chat-app"])[0],
                    parameters=[
                        Parameter(
                            p["name"],
                            p["in"],
                            bool(p.get("required")),
                            self.resolve(p.get("schema", {})),  # resolved: type and default for coercion
                            self.validator(p.get("schema", {})),
                            self.quick_check(p.get("schema", {})),
                        )
                        for p in params.values()
                        if p["in"] in {"query", "path", "header"}
                    ],
                    body_required=bool(body.get("required")),
                    body_validators={mt: self.validator(m.get("schema", {})) for mt, m in content.items()},
                    body_schemas={mt: m.get("schema", {}) for mt, m in content.items()},
                    raw=op,
                    body_quick_checks={mt: self.quick_check(m.get("schema", {})) for mt, m in media},
                    body_item_limits={mt: self.item_limits(m.get("schema", {})) for mt, m in content.items()},
                    body_defaults=self.body_defaults([m.get("schema", {}) for m in content.values()]),
                )

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)


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
