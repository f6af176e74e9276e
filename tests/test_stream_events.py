"""The contract's Chat App event types: one schema each, an open set, annotations that both the mock
and the suite read (`x-app-modes`, `x-stream-role`), and the fields today's servers send.

Each check here can fail: the broken variants below prove it.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.contract import component, contract, resolve

ROLES = {"piece", "replace", "progress", "terminal", "trailer", "final"}
BASE = {
    "task_id": "2b8a1e3c-7d4f-4c1a-9e0b-5f6a7b8c9d01",
    "message_id": "8c0fbed8-e2f9-49ff-9f0e-15a35bdd0e25",
    "conversation_id": "45701982-8118-4bc5-8e9b-64562b4555f2",
    "created_at": 1705393001,
}


def union(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"]["ChatStreamEvent"]


def annotation_problems(doc: dict[str, Any]) -> list[str]:
    """The known types, the union's branches and the unknown type's exclusions must agree, and every
    known type must say which modes send it and where it stands."""
    schemas = doc["components"]["schemas"]
    event_union = union(doc)
    mapping = event_union["discriminator"]["mapping"]
    default = event_union["discriminator"]["defaultMapping"]
    problems = []
    branches = [b["$ref"] for b in event_union["oneOf"]]
    if sorted(branches) != sorted([*mapping.values(), default]):
        problems.append("the oneOf branches are not the mapped schemas plus the default")
    excluded = schemas[default.rsplit("/", 1)[-1]]["properties"]["event"]["not"]["enum"]
    if sorted(excluded) != sorted(mapping):
        differ = sorted(set(excluded) ^ set(mapping))
        problems.append(f"ChatUnknownEvent's exclusions and the mapping differ in {differ}")
    modes = set(schemas["ChatAppMode"]["enum"])
    for name, ref in mapping.items():
        schema = _follow(ref, doc)
        app_modes = set(schema.get("x-app-modes", []))
        if not app_modes or not app_modes <= modes:
            problems.append(f"{name}: x-app-modes {sorted(app_modes)} is not a set of {sorted(modes)}")
        role = schema.get("x-stream-role")
        if role not in ROLES:
            problems.append(f"{name}: x-stream-role {role!r} is not one of {sorted(ROLES)}")
    return problems


def _follow(ref: str, doc: dict[str, Any]) -> dict[str, Any]:
    node: Any = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def test_event_union_is_consistent_and_annotated() -> None:
    assert annotation_problems(contract()) == []


def _drop_mapping_entry(doc: dict[str, Any]) -> None:
    del union(doc)["discriminator"]["mapping"]["node_retry"]


def _drop_role(doc: dict[str, Any]) -> None:
    del doc["components"]["schemas"]["NodeRetryEvent"]["x-stream-role"]


def _bad_mode(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["ChatTtsMessageEvent"]["x-app-modes"] = ["workflow"]


def _unknown_admits_known(doc: dict[str, Any]) -> None:
    doc["components"]["schemas"]["ChatUnknownEvent"]["properties"]["event"]["not"]["enum"].remove(
        "tts_message"
    )


@pytest.mark.parametrize("breaker", [_drop_mapping_entry, _drop_role, _bad_mode, _unknown_admits_known])
def test_annotation_check_catches_broken_variants(breaker) -> None:
    doc = copy.deepcopy(contract())
    breaker(doc)
    assert annotation_problems(doc)


def test_every_terminal_role_is_one_of_the_three_ends() -> None:
    mapping = union(contract())["discriminator"]["mapping"]
    terminal = {n for n, ref in mapping.items() if resolve({"$ref": ref})["x-stream-role"] == "terminal"}
    assert terminal == {"message_end", "error", "workflow_paused"}


@pytest.mark.parametrize("event", ["text_replace", "parallel_branch_started", "a_type_from_2030"])
def test_an_unknown_event_type_is_legal(event: str) -> None:
    assert list(component("ChatStreamEvent").iter_errors({"event": event, "anything": [1, 2]})) == []


VALID = {
    "message": {**BASE, "id": BASE["message_id"], "answer": " Die"},
    "agent_message": {**BASE, "id": BASE["message_id"], "answer": " Die"},
    "tts_message": {**BASE, "audio": "SUQz"},
    "tts_message_end": {**BASE, "audio": ""},
    "message_replace": {**BASE, "answer": "Sorry.", "reason": "output_moderation"},
    "node_started": {
        **BASE,
        "workflow_run_id": "r1",
        "data": {
            "id": "n1",
            "node_id": "start",
            "node_type": "start",
            "title": "Start",
            "index": 1,
            "created_at": 1,
        },
    },
    "text_chunk": {**BASE, "data": {"text": "Die"}},
    "error": {k: v for k, v in BASE.items() if k != "task_id"} | {"status": 500, "code": "x", "message": "m"},
}


@pytest.mark.parametrize("event", list(VALID))
def test_a_complete_event_is_valid(event: str) -> None:
    assert list(component("ChatStreamEvent").iter_errors({"event": event, **VALID[event]})) == []


@pytest.mark.parametrize(
    ("event", "missing"),
    [
        ("message", "created_at"),
        ("message", "message_id"),
        ("agent_message", "task_id"),
        ("tts_message", "audio"),
        ("node_started", "workflow_run_id"),
        ("error", "conversation_id"),
    ],
)
def test_a_known_event_without_a_field_real_servers_send_is_invalid(event: str, missing: str) -> None:
    payload = {k: v for k, v in {"event": event, **VALID[event]}.items() if k != missing}
    assert list(component("ChatStreamEvent").iter_errors(payload))


def test_message_end_needs_the_whole_usage_block() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}
    end = {"event": "message_end", **BASE, "id": BASE["message_id"], "metadata": {"usage": usage}}
    errors = [e.message for e in component("ChatStreamEvent").iter_errors(end)]
    assert errors, "three token counts are not today's usage block"
