"""Suggested questions after an answer (GET /messages/{message_id}/suggested)."""

from __future__ import annotations

import json
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.rewrite import wrap

JSON = [("Content-Type", "application/json")]


def suggestions_ignore_the_switch(app: App) -> App:
    """/parameters turns the feature off, yet the server still suggests."""

    def off(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if isinstance(body, dict):
            body["suggested_questions_after_answer"] = {"enabled": False}
        return code, body

    return wrap(app, path=r"/v1/parameters$", json_response=off)


def suggestions_for_any_message(app: App) -> App:
    """No message lookup at all: every id, anybody's or nobody's, gets questions."""
    answer = json.dumps({"result": "success", "data": ["Anything else?"]}).encode()
    return wrap(app, path=r"/v1/messages/[^/]+/suggested$", intercept=lambda env: (200, JSON, answer))


BROKEN: list[Variant] = [
    Variant(
        "suggestions_ignore_the_switch",
        "suggests although /parameters says the feature is off",
        "suggestions",
        suggestions_ignore_the_switch,
        ("suggestions.after_answer",),
    ),
    Variant(
        "suggestions_for_any_message",
        "suggested questions for unknown and other users' messages",
        "suggestions,isolation",
        suggestions_for_any_message,
        ("suggestions.unknown_message", "isolation.owned"),
    ),
]

GOOD: list[Variant] = []
