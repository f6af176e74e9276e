"""Authentication and isolation between end users."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.harness import KEY
from tests.conformance.rewrite import wrap


def auth_not_enforced(app: App) -> App:
    def let_in(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
        return body

    return wrap(app, request=let_in)


def bearer_scheme_optional(app: App) -> App:
    def lenient(env: Any, body: Any, query: dict[str, str]) -> Any:
        given = env.get("HTTP_AUTHORIZATION", "")
        if given and not given.startswith("Bearer "):
            env["HTTP_AUTHORIZATION"] = "Bearer " + given
        return body

    return wrap(app, request=lenient)


def users_not_isolated(app: App) -> App:
    """Every user is mapped to one shared end user (a missing scoping in every query)."""

    def share(env: Any, body: Any, query: dict[str, str]) -> Any:
        if "user" in query:
            query["user"] = "shared-user"
        if isinstance(body, dict) and "user" in body:
            body["user"] = "shared-user"
        return body

    return wrap(app, request=share)


def foreign_delete_allowed(app: App) -> App:
    """The 2025 regression: delete by id without the owner check (the deleting user is ignored)."""

    def owner(env: Any, body: Any, query: dict[str, str]) -> Any:
        cid = env["PATH_INFO"].rsplit("/", 1)[-1]
        user = env["gallery.owners"].get(cid)
        if isinstance(body, dict) and user:
            body["user"] = user
        return body

    owners: dict[str, str] = {}

    def remember(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and body.get("conversation_id"):
            owners[body["conversation_id"]] = env["gallery.user"]
        return code, body

    def note_user(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["gallery.user"] = body.get("user") if isinstance(body, dict) else None
        return body

    inner = wrap(app, path=r"/v1/chat-messages$", method="POST", request=note_user, json_response=remember)
    deleting = wrap(inner, path=r"/v1/conversations/[^/]+$", method="DELETE", request=owner)

    def with_owners(env: Any, start_response: Any) -> Any:
        env["gallery.owners"] = owners
        return deleting(env, start_response)

    return with_owners


def _owner_bypass(path: str, method: str, id_of: Callable[[Any, Any], str | None]) -> Callable[[App], App]:
    """A missing owner check on one route: the request is executed as whoever owns the resource."""

    def make(app: App) -> App:
        owners: dict[str, str] = {}

        def note_user(env: Any, body: Any, query: dict[str, str]) -> Any:
            env["gallery.user"] = body.get("user") if isinstance(body, dict) else None
            return body

        def remember(env: Any, code: int, body: Any) -> tuple[int, Any]:
            if (
                code == 200
                and isinstance(body, dict)
                and body.get("conversation_id")
                and env.get("gallery.user")
            ):
                owners.setdefault(body["conversation_id"], env["gallery.user"])
                owners.setdefault(body.get("id", ""), env["gallery.user"])
            return code, body

        def impersonate(env: Any, body: Any, query: dict[str, str]) -> Any:
            owner = owners.get(id_of(env, body) or "")
            if isinstance(body, dict) and owner:
                body["user"] = owner
            return body

        inner = wrap(
            app, path=r"/v1/chat-messages$", method="POST", request=note_user, json_response=remember
        )
        return wrap(inner, path=path, method=method, request=impersonate)

    return make


continue_foreign_allowed = _owner_bypass(
    r"/v1/chat-messages$",
    "POST",
    lambda env, body: body.get("conversation_id") if isinstance(body, dict) else None,
)


feedback_foreign_allowed = _owner_bypass(
    r"/v1/messages/[^/]+/feedbacks$", "POST", lambda env, body: env["PATH_INFO"].split("/")[-2]
)


BROKEN: list[Variant] = [
    Variant(
        "auth_not_enforced",
        "any or no key is accepted",
        "auth",
        auth_not_enforced,
        ("auth.missing_key", "auth.wrong_key"),
    ),
    Variant(
        "users_not_isolated",
        "all users share one store",
        "isolation",
        users_not_isolated,
        ("isolation.list", "isolation.read", "isolation.rename"),
    ),
    Variant(
        "foreign_delete_allowed",
        "delete without the owner check (2025 regression)",
        "isolation",
        foreign_delete_allowed,
        ("isolation.delete",),
    ),
    Variant(
        "bearer_scheme_optional",
        "a key without the Bearer scheme is accepted",
        "auth",
        bearer_scheme_optional,
        ("auth.malformed_key",),
    ),
    Variant(
        "continue_foreign_allowed",
        "continuing without the owner check",
        "isolation",
        continue_foreign_allowed,
        ("isolation.continue",),
    ),
    Variant(
        "feedback_foreign_allowed",
        "rating without the owner check",
        "isolation",
        feedback_foreign_allowed,
        ("isolation.feedback",),
    ),
]

GOOD: list[Variant] = []
