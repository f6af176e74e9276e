"""Sending messages (blocking answers, inputs, errors): POST /chat-messages."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
    _deep,
    _json_everywhere,
)
from tests.conformance.rewrite import wrap


def wrong_error_envelope(app: App) -> App:
    def flatten(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code >= 400 and isinstance(body, dict) and "code" in body:
            return code, {"error": body.get("message")}
        return code, body

    return wrap(app, path=r"^/v1/", json_response=flatten)


def created_at_in_milliseconds(app: App) -> App:
    def millis(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("created_at"), int):
            body["created_at"] *= 1000
        return code, body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", json_response=millis)


def conversation_forked(app: App) -> App:
    """Continuing a conversation answers with a new conversation id."""

    def fork(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and env.get("gallery.continued"):
            body["conversation_id"] = str(uuid.uuid4())
        return code, body

    def note(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["gallery.continued"] = bool(isinstance(body, dict) and body.get("conversation_id"))
        return body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", request=note, json_response=fork)


def select_not_enforced(app: App) -> App:
    """The server silently replaces an unknown Select value with the first option."""

    def coerce(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and isinstance(body.get("inputs"), dict) and "tone" in body["inputs"]:
            body["inputs"]["tone"] = "friendly"
        return body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", request=coerce)


def lenient_errors(app: App) -> App:
    """Every refusal is turned into a success: validation and lookups never say no."""

    def accept(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return (200, {"result": "success"}) if 400 <= code < 500 and code != 401 else (code, body)

    return wrap(app, path=r"^/v1/", json_response=accept)


def message_id_differs(app: App) -> App:
    def differ(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "message_id" in body:
            body["message_id"] = str(uuid.uuid4())
        return code, body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", json_response=differ)


def created_at_as_string(app: App) -> App:
    def stringify(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "created_at" in body:
            body["created_at"] = str(body["created_at"])
        return code, body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", json_response=stringify)


def usage_total_missing(app: App) -> App:
    """The blocking answer's usage block lacks total_tokens (one schema defect, nothing else)."""

    def drop(env: Any, code: int, body: Any) -> tuple[int, Any]:
        metadata = body.get("metadata") if code == 200 and isinstance(body, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("usage"), dict):
            metadata["usage"].pop("total_tokens", None)
        return code, body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", json_response=drop)


def stop_needs_known_task(app: App) -> App:
    """Stopping a task that is not running is refused with 404 (real servers answer success)."""
    body = b'{"code": "not_found", "message": "Task Not Exists.", "status": 404}'
    return wrap(
        app,
        path=r"/v1/chat-messages/[^/]+/stop$",
        method="POST",
        intercept=lambda env: (404, [("Content-Type", "application/json")], body),
    )


def _full_usage(node: dict[str, Any]) -> dict[str, Any]:
    """Today's whole LLMUsage as newer servers send it: timing fields besides the twelve, and a zero
    price in the exponent form Dify's Decimal serializes ("0E-7")."""
    if "prompt_tokens" in node and "total_tokens" in node:
        node.update({"time_to_first_token": 0.21, "time_to_generate": 1.37, "completion_price": "0E-7"})
    return node


def _history_item_extras(node: dict[str, Any]) -> dict[str, Any]:
    """The fields a newer server adds to each history item (tokens, latency, source, workflow run)."""
    if "query" in node and "answer" in node and "feedback" in node:
        node.update(
            {
                "message_tokens": 12,
                "answer_tokens": 34,
                "provider_response_latency": 0.8,
                "from_source": "api",
                "workflow_run_id": None,
                "extra_contents": [],
            }
        )
    return node


BROKEN: list[Variant] = [
    Variant(
        "wrong_error_envelope",
        "errors as {error: message}",
        "chat",
        wrong_error_envelope,
        ("chat.missing_query", "chat.unknown_conversation"),
    ),
    Variant(
        "created_at_in_milliseconds",
        "created_at in milliseconds",
        "chat",
        created_at_in_milliseconds,
        ("chat.created_at",),
    ),
    Variant(
        "conversation_forked",
        "continuing answers a new conversation id",
        "chat",
        conversation_forked,
        ("chat.continuity",),
    ),
    Variant(
        "select_not_enforced",
        "Select values outside the options accepted",
        "chat",
        select_not_enforced,
        ("chat.input_select_options",),
    ),
    Variant(
        "lenient_errors",
        "every refusal turned into 200 success",
        "chat,history,conversations,feedback,lifecycle,audio",
        lenient_errors,
        (
            "chat.empty_query",
            "chat.missing_user",
            "chat.bad_response_mode",
            "chat.bad_conversation_id",
            "chat.foreign_conversation",
            "chat.input_required",
            "chat.input_max_length",
            "conversations.limit_bounds",
            "conversations.unknown_last_id",
            "feedback.undo_without_rating",
            "feedback.invalid_rating",
            "feedback.unknown_message",
            "history.unknown_first_id",
            "history.missing_user",
            "lifecycle.rename_requires_name",
            "lifecycle.rename_unknown",
            "lifecycle.delete_unknown",
            "audio.wrong_type",
            "audio.missing_file",
        ),
    ),
    Variant(
        "message_id_differs", "message_id is not the message's id", "chat", message_id_differs, ("chat.ids",)
    ),
    Variant(
        "created_at_as_string",
        "created_at sent as a string",
        "chat",
        created_at_as_string,
        ("chat.blocking_shape",),
    ),
    Variant(
        "usage_total_missing",
        "usage.total_tokens missing from the blocking answer",
        "chat,history,feedback,lifecycle,isolation",
        usage_total_missing,
        ("chat.blocking_shape",),
    ),
    Variant(
        "stop_needs_known_task",
        "stopping an unknown task is 404",
        "chat",
        stop_needs_known_task,
        ("chat.stop_unknown_task",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "full_usage_block",
        "today's whole usage block with timing fields and a 0E-7 price, in answers and message_end",
        "chat,streaming",
        _json_everywhere(_deep(_full_usage)),
    ),
    Variant(
        "history_extra_fields",
        "history items carry a newer server's extra fields (tokens, latency, source)",
        "history,streaming",
        _json_everywhere(_deep(_history_item_extras)),
    ),
]
