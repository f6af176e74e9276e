"""Load the data in fixtures/ (app parameters, seeded users, canned answers, transcriptions).

The loader accepts the documented layout plus a few equivalent spellings (lists or mappings), so a
fixtures document posted to the admin API can be written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.yamlload import load_yaml


def _load(path: Path) -> Any:
    if not path.is_file():
        return None
    return load_yaml(path.read_text(encoding="utf-8"))


@dataclass
class Fixtures:
    parameters: dict[str, Any]
    default_conversation_name: str
    users: list[dict[str, Any]]  # [{user, conversations: [{..., messages: [...]}]}]
    answers: dict[str, Any]  # the answers.yaml document
    transcriptions: dict[str, Any]  # the transcriptions.yaml document
    raw_app: dict[str, Any] = field(default_factory=dict)


def load_fixtures(directory: Path) -> Fixtures:
    app = _load(directory / "app.yaml") or {}
    parameters = app.get("parameters", app if "user_input_form" in app else {})
    parameters.setdefault("opening_statement", None)
    parameters.setdefault("suggested_questions", [])
    parameters.setdefault("suggested_questions_after_answer", {"enabled": False})
    parameters.setdefault("more_like_this", {"enabled": False})
    parameters.setdefault("user_input_form", [])
    return Fixtures(
        parameters=parameters,
        default_conversation_name=str(
            (app.get("app") or {}).get("default_conversation_name")
            or app.get("default_conversation_name", "New conversation")
        ),
        users=normalise_users(_load(directory / "users.yaml") or {}),
        answers=_load(directory / "answers.yaml") or {},
        transcriptions=_load(directory / "audio" / "transcriptions.yaml") or {},
        raw_app=app,
    )


def normalise_users(doc: Any) -> list[dict[str, Any]]:
    """users.yaml as a list of {user, conversations}; accepts a list or a mapping keyed by user."""
    users = doc.get("users", doc) if isinstance(doc, dict) else doc
    if isinstance(users, dict):
        users = [{"user": name, **(value or {})} for name, value in users.items()]
    out = []
    for entry in users or []:
        name = entry.get("user") or entry.get("id") or entry.get("name")
        out.append({"user": str(name), "conversations": list(entry.get("conversations") or [])})
    return out


def form_controls(parameters: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """user_input_form as (control type, settings) pairs."""
    controls = []
    for item in parameters.get("user_input_form") or []:
        for kind, settings in item.items():
            controls.append((kind, settings or {}))
    return controls
