"""Conversation lists: GET /conversations (pages, cursors, order, fields)."""

from __future__ import annotations

from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def items_lost_between_pages(app: App) -> App:
    """An off-by-one cursor: every continued page skips the conversation right after last_id."""

    def lose(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and "last_id=" in env.get("QUERY_STRING", "") and body.get("data"):
            body["data"] = body["data"][1:]
        return code, body

    return wrap(app, path=r"/v1/conversations$", method="GET", json_response=lose)


def reversed_conversations(app: App) -> App:
    def flip(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            body["data"].reverse()
        return code, body

    return wrap(app, path=r"/v1/conversations$", method="GET", json_response=flip)


def conversations_cursor_ignored(app: App) -> App:
    def drop(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("last_id", None)
        return body

    return wrap(app, path=r"/v1/conversations$", method="GET", request=drop)


def conversation_name_null(app: App) -> App:
    def null(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            for c in body.get("data", []):
                c["name"] = None
        return code, body

    return wrap(app, path=r"/v1/conversations$", method="GET", json_response=null)


def conversations_limit_ignored(app: App) -> App:
    def drop_limit(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("limit", None)
        return body

    return wrap(app, path=r"/v1/conversations$", method="GET", request=drop_limit)


def sort_by_ignored(app: App) -> App:
    def drop(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("sort_by", None)
        return body

    return wrap(app, path=r"/v1/conversations$", method="GET", request=drop)


def default_order_by_creation(app: App) -> App:
    """The default list is newest created first: a conversation continued later does not move up."""

    def newest_created(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.setdefault("sort_by", "-created_at")
        return body

    return wrap(app, path=r"/v1/conversations$", method="GET", request=newest_created)


def same_second_conversations(app: App) -> App:
    """Every conversation answered with the same whole second (they were made within one): the
    order, by sub-second time, is the only trace of which came first."""
    second: dict[str, int] = {}

    def flatten(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            for c in body.get("data") or []:
                if isinstance(c, dict) and isinstance(c.get("created_at"), int):
                    stamp = second.setdefault("t", c["created_at"])
                    c["created_at"] = c["updated_at"] = stamp
        return code, body

    return wrap(app, path=r"/v1/conversations$", method="GET", json_response=flatten)


BROKEN: list[Variant] = [
    Variant(
        "items_lost_between_pages",
        "off-by-one cursor skips a conversation",
        "conversations",
        items_lost_between_pages,
        ("conversations.complete",),
    ),
    Variant(
        "reversed_conversations",
        "conversations oldest first",
        "conversations",
        reversed_conversations,
        ("conversations.order",),
    ),
    Variant(
        "conversations_cursor_ignored",
        "conversations ignore last_id",
        "conversations",
        conversations_cursor_ignored,
        ("conversations.no_duplicates",),
    ),
    Variant(
        "conversation_name_null",
        "conversation names are null",
        "conversations",
        conversation_name_null,
        ("conversations.fields",),
    ),
    Variant(
        "conversations_limit_ignored",
        "conversations ignore limit",
        "conversations",
        conversations_limit_ignored,
        ("conversations.page_size",),
    ),
    Variant(
        "sort_by_ignored",
        "conversations ignore sort_by",
        "conversations",
        sort_by_ignored,
        ("conversations.sort_by",),
    ),
    Variant(
        "default_order_by_creation",
        "conversations listed newest created first (activity ignored)",
        "conversations",
        default_order_by_creation,
        ("conversations.order",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "same_second_conversations",
        "every conversation answered within one second, listed in the order of events",
        "conversations",
        same_second_conversations,
    ),
]
