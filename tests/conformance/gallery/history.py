"""Message history: GET /messages (pages, cursors, order, limits)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def has_more_always_false(app: App) -> App:
    def fix(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "has_more" in body:
            body["has_more"] = False
        return code, body

    return wrap(app, path=r"/v1/(messages|conversations)$", method="GET", json_response=fix)


def limit_ignored(app: App) -> App:
    def drop_limit(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("limit", None)
        return body

    return wrap(app, path=r"/v1/messages$", method="GET", request=drop_limit)


def cursor_ignored(app: App) -> App:
    def drop_cursor(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("first_id", None)
        return body

    return wrap(app, path=r"/v1/messages$", method="GET", request=drop_cursor)


def reversed_history(app: App) -> App:
    def flip(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            body["data"].reverse()
        return code, body

    return wrap(app, path=r"/v1/messages$", method="GET", json_response=flip)


def not_found_as_empty_200(app: App) -> App:
    def hide(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 404:
            return 200, {"limit": 20, "has_more": False, "data": []}
        return code, body

    return wrap(app, path=r"/v1/messages$", method="GET", json_response=hide)


def limit_clamped(app: App) -> App:
    def clamp(env: Any, body: Any, query: dict[str, str]) -> Any:
        if query.get("limit", "").lstrip("-").isdigit():
            query["limit"] = str(min(100, max(1, int(query["limit"]))))
        return body

    return wrap(app, path=r"/v1/messages$", method="GET", request=clamp)


def history_loses_oldest(app: App) -> App:
    def lose(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and body.get("data") and not body.get("has_more"):
            body["data"] = body["data"][1:]
        return code, body

    return wrap(app, path=r"/v1/messages$", method="GET", json_response=lose)


def empty_conversation_id_refused(app: App) -> App:
    """The 2023 rule served today: `conversation_id=""` is a 400 instead of an empty page."""

    def refuse(env: Any, body: Any, query: dict[str, str]) -> Any:
        if query.get("conversation_id") == "":
            query["conversation_id"] = "none"
        return body

    return wrap(app, path=r"/v1/messages$", method="GET", request=refuse)


def _no_user(env: Any) -> bool:
    return "user" not in dict(parse_qsl(env.get("QUERY_STRING", ""), keep_blank_values=True))


def missing_user_empty_page(app: App) -> App:
    """A 2023 server: history without `user` is an empty page (200), not a refusal."""

    def empty(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if not _no_user(env):
            return None
        body = {"limit": 20, "has_more": False, "data": []}
        return 200, [("Content-Type", "application/json")], json.dumps(body).encode()

    return wrap(app, path=r"/v1/messages$", method="GET", intercept=empty)


def missing_user_not_found(app: App) -> App:
    """Today's server: the default end user does not own the conversation (404, Dify's message)."""

    def not_found(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if not _no_user(env):
            return None
        body = {"code": "not_found", "message": "Conversation Not Exists.", "status": 404}
        return 404, [("Content-Type", "application/json")], json.dumps(body).encode()

    return wrap(app, path=r"/v1/messages$", method="GET", intercept=not_found)


def missing_user_leaks_history(app: App) -> App:
    """Without `user`, history is served as the conversation's owner sees it (another user's data)."""
    owners: dict[str, str] = {}

    def owner(env: Any, body: Any, query: dict[str, str]) -> Any:
        conversation_id = query.get("conversation_id", "")
        if "user" in query:
            owners.setdefault(conversation_id, query["user"])
        elif conversation_id in owners:
            query["user"] = owners[conversation_id]
        return body

    return wrap(app, path=r"/v1/messages$", method="GET", request=owner)


BROKEN: list[Variant] = [
    Variant(
        "has_more_always_false",
        "has_more is always false",
        "history,conversations",
        has_more_always_false,
        ("history.has_more", "conversations.has_more"),
    ),
    Variant(
        "limit_ignored", "history ignores limit (always 20)", "history", limit_ignored, ("history.page_size",)
    ),
    Variant(
        "cursor_ignored",
        "history ignores first_id (the first page again)",
        "history",
        cursor_ignored,
        ("history.no_duplicates",),
    ),
    Variant(
        "reversed_history",
        "history pages in descending order",
        "history",
        reversed_history,
        ("history.order",),
    ),
    Variant(
        "not_found_as_empty_200",
        "unknown conversation history is an empty 200",
        "history",
        not_found_as_empty_200,
        ("history.unknown_conversation",),
    ),
    Variant(
        "limit_clamped",
        "out-of-range limit clamped instead of 400",
        "history",
        limit_clamped,
        ("history.limit_bounds",),
    ),
    Variant(
        "history_loses_oldest",
        "the last history page drops its oldest message",
        "history",
        history_loses_oldest,
        ("history.complete",),
    ),
    Variant(
        "empty_conversation_id_refused",
        'history of conversation_id "" is 400 (today it is an empty page)',
        "history",
        empty_conversation_id_refused,
        ("history.empty_conversation_id",),
    ),
    Variant(
        "missing_user_leaks_history",
        "history without user shows the owner's messages",
        "history",
        missing_user_leaks_history,
        ("history.missing_user",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "missing_user_empty_page",
        "history without user is an empty page (2023 servers)",
        "history",
        missing_user_empty_page,
    ),
    Variant(
        "missing_user_not_found",
        "history without user is 404 (today: the default end user's view)",
        "history",
        missing_user_not_found,
    ),
]
