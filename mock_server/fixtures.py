"""Load the data in fixtures/ (app parameters, seeded users, canned answers, transcriptions).

The loader accepts the documented layout plus a few equivalent spellings (lists or mappings), so a
fixtures document posted to the admin API can be written by hand.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema.exceptions import best_match

from mock_server.contract import Contract
from mock_server.speech import Mp3Voice
from mock_server.usage import ModelPricing
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
    pricing: ModelPricing = field(default_factory=ModelPricing)
    voice: Mp3Voice | None = None  # the MP3 tone bank of text-to-speech (fixtures/voice/tones.*)
    directory: Path | None = None


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
        pricing=ModelPricing.from_fixture(app.get("model")),
        voice=Mp3Voice.from_directory(directory / "voice"),
        directory=directory,
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


# What a message that says nothing about them has in GET /messages: no files, thoughts or citations,
# a normal status, and the nil UUID as parent (real servers give service-API messages that parent).
UUID_NIL = "00000000-0000-0000-0000-000000000000"
HISTORY_DEFAULTS: dict[str, Any] = {
    "parent_message_id": UUID_NIL,
    "message_files": [],
    "retriever_resources": [],
    "agent_thoughts": [],
    "status": "normal",
    "error": None,
}


class FixtureError(ValueError):
    """A users document that cannot be loaded; the message names the path of the bad value.

    `status` is 400 for a bad document, 409 for ids that already exist in the store.
    """

    def __init__(self, path: str, message: str, status: int = 400) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.status = status


def _path(base: str, parts: Any) -> str:
    out = base
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _check(contract: Contract, schema_name: str, instance: Any, where: str, given: Any = ()) -> None:
    """Validate `instance` against components/schemas/<schema_name> of the contract. Errors in the
    fields the document `given` are reported before those in defaults derived from them."""
    validator = contract.component_validator(schema_name)
    errors = list(validator.iter_errors(instance))
    own = [e for e in errors if e.absolute_path and e.absolute_path[0] in given]
    error = best_match(own or errors)
    if error is None:
        return
    path = _path(where, error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [k for k in error.validator_value if k not in error.instance]
        if missing:
            raise FixtureError(f"{path}.{missing[0]}", "is required")
    raise FixtureError(path, f"{error.message} (not a valid {schema_name})")


# The check of POST /_mock/fixtures, for other documents the mock loads (recorded apps).
check_component = _check


def users_document(doc: Any) -> list[Any]:
    """The `users` list of a document posted to /_mock/fixtures: an object with a `users` list."""
    if not isinstance(doc, dict):
        kind = type(doc).__name__
        raise FixtureError("", f"the document must be an object with a 'users' list, got {kind}")
    unknown = sorted(set(doc) - {"users"})
    if unknown:
        raise FixtureError(unknown[0], "unknown field (the document holds only 'users')")
    if not isinstance(doc.get("users"), list):
        raise FixtureError("users", "is required and must be a list")
    return doc["users"]


def form_inputs(parameters: dict[str, Any], inputs: Any) -> Any:
    """`inputs` with every variable of the app's form (`user_input_form`), as real servers answer a
    conversation's and a message's inputs: the value given, else the form's default, else null.
    Keys the form does not declare are kept (a fixture may say more); anything but a mapping is
    returned as it is (the contract check reports it)."""
    if not isinstance(inputs, dict):
        return inputs
    out = dict(inputs)
    for _kind, control in form_controls(parameters):
        name = control.get("variable")
        if name and name not in out:
            out[name] = control["default"] if control.get("default") not in (None, "") else None
    return out


def validated_users(
    users: Any,
    contract: Contract,
    default_name: str,
    introduction: str | None,
    where: str = "users",
    parameters: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Check a list of {user, conversations: [{..., messages: [...]}]} and fill in what it leaves out.

    Each conversation, with defaults filled in, must be a valid `Conversation` of the contract, and
    each message, with its conversation_id and defaults, a valid `HistoryMessage` (fields beyond
    those, such as `messages` or a `rating` shorthand, are allowed). Ids must be unique within the
    document. With the app's `parameters`, inputs get every variable of its form (form_inputs).
    Returns complete records, ready to be inserted; FixtureError otherwise.
    """
    parameters = parameters or {}
    if not isinstance(users, list):
        raise FixtureError(where, "must be a list")
    now = int(time.time())
    conv_ids: dict[str, str] = {}
    msg_ids: dict[str, str] = {}
    out = []
    for u, entry in enumerate(users):
        at = f"{where}[{u}]"
        if not isinstance(entry, dict):
            raise FixtureError(at, "must be an object with 'user' and 'conversations'")
        unknown = sorted(set(entry) - {"user", "conversations"})
        if unknown:
            raise FixtureError(f"{at}.{unknown[0]}", "unknown field (a user has 'user' and 'conversations')")
        if "user" not in entry:
            raise FixtureError(f"{at}.user", "is required")
        _check(contract, "UserId", entry["user"], f"{at}.user")
        convs = entry.get("conversations", [])
        if not isinstance(convs, list):
            raise FixtureError(f"{at}.conversations", "must be a list")
        records = []
        for c, conv in enumerate(convs):
            cat = f"{at}.conversations[{c}]"
            if not isinstance(conv, dict):
                raise FixtureError(cat, "must be an object (a Conversation plus its 'messages')")
            messages = conv.get("messages", [])
            if not isinstance(messages, list):
                raise FixtureError(f"{cat}.messages", "must be a list")
            for m, msg in enumerate(messages):
                if not isinstance(msg, dict):
                    raise FixtureError(f"{cat}.messages[{m}]", "must be an object (a HistoryMessage)")
            first = messages[0].get("created_at", now) if messages else now
            created = conv.get("created_at", first)
            last = messages[-1].get("created_at", created) if messages else created
            record = {
                "id": str(uuid.uuid4()),
                "name": default_name,
                "inputs": {},
                "status": "normal",
                "introduction": introduction,
                "created_at": created,
                "updated_at": last,
                **conv,
            }
            record["inputs"] = form_inputs(parameters, record["inputs"])
            _check(contract, "Conversation", record, cat, conv)
            _unique(conv_ids, record["id"], f"{cat}.id", "conversation")
            msg_records = []
            for m, msg in enumerate(messages):
                mat = f"{cat}.messages[{m}]"
                if "conversation_id" in msg and msg["conversation_id"] != record["id"]:
                    raise FixtureError(
                        f"{mat}.conversation_id", "must be the enclosing conversation's id (or left out)"
                    )
                rating = msg.get("rating")
                msg_record = {
                    "id": str(uuid.uuid4()),
                    "conversation_id": record["id"],
                    "inputs": record["inputs"],
                    "feedback": {"rating": rating} if rating else None,
                    "created_at": created,
                    **HISTORY_DEFAULTS,
                    **msg,
                }
                msg_record["inputs"] = form_inputs(parameters, msg_record["inputs"])
                _check(contract, "HistoryMessage", msg_record, mat, msg)
                _unique(msg_ids, msg_record["id"], f"{mat}.id", "message")
                msg_records.append(msg_record)
            records.append({**record, "messages": msg_records})
        out.append({"user": entry["user"], "conversations": records})
    return out


def _unique(seen: dict[str, str], value: str, path: str, what: str) -> None:
    if value in seen:
        raise FixtureError(path, f"duplicate {what} id {value!r} (also at {seen[value]})")
    seen[value] = path
