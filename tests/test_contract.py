"""The contract itself: valid OpenAPI 3.2, examples valid against their schemas, surfaces consistent."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from openapi_spec_validator.validation import OpenAPIV32SpecValidator

from tests.contract import content_schema_errors, contract, operations, parse_sse, resolve, validator

SURFACE_ENVELOPES = {
    "chat-app": "ChatAppError",
    "conversational": "HfError",
    "chat-completions": "OpenAiError",
}


def test_contract_is_valid_openapi_3_2() -> None:
    doc = contract()
    assert doc["openapi"].startswith("3.2")
    errors = [e.message for e in OpenAPIV32SpecValidator(doc).iter_errors()]
    assert errors == []


def _media_examples() -> list[tuple[str, str, dict[str, Any], Any]]:
    """(where, media type, media object, Example object) for every request and response example."""
    found = []
    for path, method, op in operations():
        bodies = [("request", op.get("requestBody", {}))]
        bodies += [(f"response {code}", resolve(r)) for code, r in op.get("responses", {}).items()]
        for label, body in bodies:
            for media_type, media in resolve(body).get("content", {}).items():
                where = f"{method.upper()} {path} {label} {media_type}"
                if "example" in media:
                    found.append((where, media_type, media, {"value": media["example"]}))
                for name, ex in media.get("examples", {}).items():
                    found.append((f"{where} [{name}]", media_type, media, ex))
    for name, response in contract()["components"]["responses"].items():
        for media_type, media in response.get("content", {}).items():
            if "example" in media:
                found.append((f"components/responses/{name}", media_type, media, {"value": media["example"]}))
    return found


EXAMPLES = _media_examples()


def test_every_operation_has_examples() -> None:
    with_examples = {where.split(" ")[1] for where, *_ in EXAMPLES if " " in where}
    assert with_examples == {path for path, _, _ in operations()}


@pytest.mark.parametrize(("where", "media_type", "media", "example"), EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_example_is_valid(where: str, media_type: str, media: dict[str, Any], example: Any) -> None:
    if "itemSchema" in media:
        raw = example["serializedValue"]
        events = parse_sse(raw)
        assert events, "a stream example must hold events"
        for event in events:
            assert content_schema_errors(event, media["itemSchema"]) == [], event
        return
    errors = [e.message for e in validator(media["schema"]).iter_errors(example["value"])]
    assert errors == []


def test_stream_item_schema_rejects_what_it_should() -> None:
    """The event schemas are sharp: a message piece without ids, or junk, is refused."""
    chat_item = {"$ref": "#/components/schemas/ChatStreamItem"}
    assert content_schema_errors({"data": '{"event": "message", "answer": "x"}'}, chat_item)
    assert content_schema_errors({"data": "not json"}, chat_item)
    assert content_schema_errors({"event": "ping"}, chat_item) == []
    chunk_item = {"$ref": "#/components/schemas/ChatCompletionStreamItem"}
    assert content_schema_errors({"data": "[DONE]"}, chunk_item) == []
    assert content_schema_errors({"data": '{"object": "chat.completion"}'}, chunk_item)


@pytest.mark.parametrize(("path", "method", "op"), list(operations()), ids=lambda v: str(v)[:40])
def test_operation_is_complete(path: str, method: str, op: dict[str, Any]) -> None:
    doc = contract()
    assert op.get("operationId")
    [tag] = op["tags"]
    assert tag in SURFACE_ENVELOPES
    assert op.get("security", doc["security"]) == [{"bearerAuth": []}]
    statuses = set(op["responses"])
    assert {"401", "429", "500", "503"} <= statuses
    assert "4XX" in statuses, "every operation documents the HTTP layer's other client errors (M18)"
    assert any(s.startswith("2") for s in statuses)
    if "requestBody" in op:
        assert "400" in statuses and "415" in statuses
    envelope = SURFACE_ENVELOPES[tag]
    for status, response in op["responses"].items():
        if status[0] in "45":
            schema = resolve(response)["content"]["application/json"]["schema"]
            assert schema == {"$ref": f"#/components/schemas/{envelope}"}, (status, schema)


def test_links_target_real_operations_and_parameters() -> None:
    by_id = {op["operationId"]: op for _, _, op in operations()}
    seen = 0
    for _, _, op in operations():
        for response in op["responses"].values():
            for name, link in resolve(response).get("links", {}).items():
                target = by_id[link["operationId"]]
                names = {resolve(p)["name"] for p in target.get("parameters", [])}
                assert set(link.get("parameters", {})) <= names, name
                seen += 1
    assert seen >= 5


def test_pagination_bounds_are_declared() -> None:
    limit = contract()["components"]["parameters"]["Limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)


def test_the_suite_reads_the_contract_as_the_pure_python_loader_does() -> None:
    """conformance.data.parse_yaml takes libyaml's loader when PyYAML has it (a run's start-up pays the
    parse); the document must be the one the reference loader reads, value for value."""
    from conformance.data import contract_path, parse_yaml

    text = contract_path().read_text(encoding="utf-8")
    assert parse_yaml(text) == yaml.safe_load(text)
