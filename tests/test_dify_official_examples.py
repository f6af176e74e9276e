"""Dify's own published examples validate against openapi.yaml (issue 8, "Done means").

Every response example (`example` and `examples`) and every event of every SSE example in
Dify's published OpenAPI files, for each operation the contract has today, must be accepted by the
contract's schema for that operation, status and media type. The files are read where they lie
(`../shared/reference/dify-official/` beside the checkout, or an ancestor's `shared/`); nothing is
copied into the project. Without them the test is skipped with the reason.

Examples rejected on purpose are listed in REJECTED with the reason (SPEC_NOTES N13 repeats it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mock_server.eras import DEFAULT_ERA, for_era
from tests.contract import content_schema_errors, contract, resolve, validator
from tests.shared_reference import SHARED_REFERENCE, shared_reference

OFFICIAL_IN = SHARED_REFERENCE / "dify-official"
FILES = (
    "openapi_chat.json",
    "openapi_chatflow.json",
    "openapi_chat.2025-05-19.json",
    "openapi_service.head.json",
)
METHODS = ("get", "put", "post", "delete", "patch")

# (file, METHOD path, status, example name) -> why the contract refuses it, on purpose.
_PLACEHOLDER_IDS = (
    "placeholder ids ('task123', 'msg123', 'conv123', 'wfr_abc123') where real servers send UUIDs, "
    "which the contract requires"
)
_ABRIDGED_BASIC = (
    "task_id 'mock_task_id' is a placeholder (real servers send a UUID); its `message` events leave out "
    "`id` and its `message_end` the usage fields (2 of the 12 real servers send and the strict SDKs "
    "require) and, in some files, `created_at`"
)
REJECTED: dict[tuple[str, str, str, str], str] = {
    **{(file, "POST /chat-messages", "200", "streamingResponseBasic"): _ABRIDGED_BASIC for file in FILES},
    **{
        (file, "POST /chat-messages", "200", "streamingResponseAgent"): _PLACEHOLDER_IDS
        + "; its `message_end` has 2 of the 12 usage fields"
        for file in ("openapi_chat.json", "openapi_chat.2025-05-19.json", "openapi_service.head.json")
    },
    **{
        (file, "POST /chat-messages", "200", "streamingResponseWorkflow"): _PLACEHOLDER_IDS
        for file in ("openapi_chatflow.json", "openapi_service.head.json")
    },
}


def official_dir() -> Path | None:
    """The nearest `shared/reference/dify-official` of the repository's ancestors (worktrees included)."""
    return shared_reference("dify-official")


def _ours() -> dict[tuple[str, str], dict[str, Any]]:
    """Today's operations of the contract by (method, path)."""
    today = for_era(contract(), DEFAULT_ERA)
    return {
        (method, path): op
        for path, item in today["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def _deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target: Any = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _examples(media: dict[str, Any], doc: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    if "example" in media:
        yield "example", media["example"]
    for name, ex in (media.get("examples") or {}).items():
        ex = _deref(doc, ex)
        if "value" in ex:
            yield name, ex["value"]


def cases() -> Iterator[Any]:
    folder = official_dir()
    if folder is None:
        return
    ours = _ours()
    for file in FILES:
        doc = json.loads((folder / file).read_text(encoding="utf-8"))
        for path, item in doc["paths"].items():
            for method, op in item.items():
                if method not in METHODS or (method, path) not in ours:
                    continue
                for status, response in op.get("responses", {}).items():
                    response = _deref(doc, response)
                    for media_type, media in (response.get("content") or {}).items():
                        for name, value in _examples(media, doc):
                            key = (file, f"{method.upper()} {path}", status, name)
                            marks = (
                                [pytest.mark.xfail(reason=REJECTED[key], strict=True)]
                                if key in REJECTED
                                else []
                            )
                            yield pytest.param(
                                ours[(method, path)],
                                status,
                                media_type,
                                value,
                                id="|".join(key) + f"|{media_type}",
                                marks=marks,
                            )


def _our_media(op: dict[str, Any], status: str, media_type: str) -> dict[str, Any] | None:
    """The contract's media object for a status (exact, else its range `4XX`, else `default`)."""
    responses = op.get("responses", {})
    response = responses.get(status) or responses.get(f"{status[0]}XX") or responses.get("default")
    content = (resolve(response) or {}).get("content", {}) if response else {}
    if media_type in content:
        return content[media_type]
    major = media_type.split("/")[0]
    return content.get(f"{major}/*") or content.get("*/*")


def sse_events(text: str) -> list[dict[str, Any]]:
    """The JSON events of an SSE example. Dify's examples separate events with spaces instead of
    blank lines (a known defect of the files), so each `data: ` starts a JSON value read on its own."""
    decoder, events, at = json.JSONDecoder(), [], 0
    while (at := text.find("data:", at)) != -1:
        start = at + len("data:")
        while start < len(text) and text[start] in " \t":
            start += 1
        value, end = decoder.raw_decode(text, start)
        events.append(value)
        at = end
    return events


ALL = list(cases())


def test_the_reference_files_are_found_or_the_skip_says_why() -> None:
    if official_dir() is None:
        pytest.skip(f"no {OFFICIAL_IN} beside the checkout or above it: Dify's published files are absent")
    assert len(ALL) > 100, "fewer examples than Dify publishes for the operations of the contract"


@pytest.mark.skipif(not ALL, reason=f"{OFFICIAL_IN} not found beside the checkout or above it")
@pytest.mark.parametrize(
    ("op", "status", "media_type", "value"), ALL or [pytest.param(None, "", "", None, id="none")]
)
def test_official_example_validates(op: dict[str, Any], status: str, media_type: str, value: Any) -> None:
    media = _our_media(op, status, media_type)
    assert media is not None, f"{op['operationId']} documents no {status} {media_type} answer"
    if media_type == "text/event-stream":
        assert isinstance(value, str), "an SSE example is text"
        item_schema = media["itemSchema"]
        for event in sse_events(value):
            errors = content_schema_errors({"data": json.dumps(event)}, item_schema)
            assert not errors, f"event {event.get('event')!r}: {errors[:3]}"
        return
    schema = media.get("schema")
    assert schema is not None, f"{op['operationId']} {status} {media_type} has no schema"
    errors = sorted(validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    shown = ["/".join(map(str, e.absolute_path)) + ": " + e.message[:160] for e in errors[:3]]
    assert not errors, f"{op['operationId']} {status}: {shown}"
