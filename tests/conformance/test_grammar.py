"""The stream grammar is read from the contract's annotations and judges event orders as documented."""

from __future__ import annotations

import pytest

from conformance import contract
from conformance.grammar import FINAL, PIECE, ROLES, TERMINAL, TRAILER, UNKNOWN, grammar


@pytest.fixture(autouse=True)
def current_era() -> None:
    contract.use_era("current")


def test_every_known_event_type_has_a_role_and_app_modes() -> None:
    schemas = contract.document()["components"]["schemas"]
    mapping = schemas["ChatStreamEvent"]["discriminator"]["mapping"]
    g = grammar()
    assert set(g.kinds) == set(mapping), "every event type of the mapping is in the grammar"
    modes = set(schemas["ChatAppMode"]["enum"])
    for kind in g.kinds.values():
        assert kind.role in ROLES
        assert kind.modes and set(kind.modes) <= modes, kind


def test_roles_of_todays_events() -> None:
    g = grammar()
    assert g.role("message") == g.role("agent_message") == PIECE
    assert set(g.types(TERMINAL)) == {"message_end", "error", "workflow_paused"}
    assert g.role("tts_message") == g.role("workflow_finished") == TRAILER
    assert g.role("tts_message_end") == FINAL
    assert g.role("parallel_branch_started") == g.role(None) == g.role(42) == UNKNOWN


@pytest.mark.parametrize(
    "events",
    [
        ["message", "message", "message_end"],
        ["message", "tts_message", "message", "message_end", "tts_message", "tts_message_end"],
        ["workflow_started", "node_started", "message", "node_finished", "workflow_finished", "message_end"],
        ["workflow_started", "message", "message_end", "workflow_finished"],
        ["something_new", "message", "text_replace", "message_end", "usage_report"],
        ["message", "message_replace", "message_end"],
        ["error"],
        ["workflow_started", "node_started", "workflow_paused"],
    ],
)
def test_legal_orders(events: list[str]) -> None:
    assert grammar().violations(events) == []


@pytest.mark.parametrize(
    ("events", "problem"),
    [
        (["message", "message_end", "message"], "after the terminal event"),
        (["message", "message_end", "error"], "a second terminal event"),
        (["message", "tts_message_end", "message_end"], "before any terminal event"),
        (["message", "message_end", "tts_message_end", "tts_message"], "after the final event"),
        (["message", "message_end", "node_finished"], "after the terminal event"),
    ],
)
def test_illegal_orders(events: list[str], problem: str) -> None:
    problems = grammar().violations(events)
    assert problems and problem in problems[0], problems


def test_answer_follows_replacements() -> None:
    payloads = [
        {"event": "message", "answer": "Hel"},
        {"event": "message_replace", "answer": "[redacted]"},
        {"event": "agent_message", "answer": "!"},
        {"event": "tts_message", "answer": "ignored"},
    ]
    assert grammar().answer(payloads) == "[redacted]!"


def test_the_2023_era_knows_the_2023_events_only() -> None:
    contract.use_era("2023")
    try:
        assert set(grammar().kinds) == {"message", "message_end", "error"}
        assert grammar().role("tts_message") == UNKNOWN
    finally:
        contract.use_era("current")
