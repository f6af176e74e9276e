"""Authentication and isolation between end users."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.harness import KEY, OTHER_APP_ARGS, OTHER_KEY, mock_app
from tests.conformance.rewrite import frame_json, frames, wrap


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


def stop_ignores_owner(app: App) -> App:
    """Stop by task id alone: any user of any app stops a running answer (the stop is carried out as
    the task's owner, with the owner's key)."""
    owners: dict[str, tuple[str, str]] = {}  # task id -> (authorization, user)
    lock = threading.Lock()

    def note_user(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["gallery.user"] = body.get("user") if isinstance(body, dict) else None
        return body

    def remember(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            payload = frame_json(frame)
            if isinstance(payload, dict) and isinstance(payload.get("task_id"), str):
                with lock:
                    owners.setdefault(
                        payload["task_id"], (env.get("HTTP_AUTHORIZATION", ""), env["gallery.user"])
                    )
            yield frame

    def as_owner(env: Any, body: Any, query: dict[str, str]) -> Any:
        with lock:
            owner = owners.get(env["PATH_INFO"].split("/")[-2])
        if owner and isinstance(body, dict):
            env["HTTP_AUTHORIZATION"], body["user"] = owner
        return body

    sending = wrap(app, path=r"/v1/chat-messages$", method="POST", request=note_user, stream=remember)
    return wrap(sending, path=r"/v1/chat-messages/[^/]+/stop$", method="POST", request=as_owner)


def apps_not_isolated(app: App) -> App:  # noqa: ARG001 - its own two-app mock
    """Every key is let into the first app's data: the second app's key reads and changes it."""
    inner = mock_app(api_keys=[KEY, OTHER_KEY])

    def one_app(env: Any, start_response: Any) -> Any:
        if env.get("HTTP_AUTHORIZATION") == f"Bearer {OTHER_KEY}":
            env["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
        return inner(env, start_response)

    return one_app


BROKEN: list[Variant] = [
    Variant(
        "stop_ignores_owner",
        "any user or app stops another's running answer",
        "isolation",
        lambda app: stop_ignores_owner(mock_app(api_keys=[KEY, OTHER_KEY])),
        ("isolation.stop", "isolation.other_app"),
        OTHER_APP_ARGS,
    ),
    Variant(
        "apps_not_isolated",
        "another app's key reaches this app's conversations, messages and files",
        "isolation",
        apps_not_isolated,
        ("isolation.other_app",),
        OTHER_APP_ARGS,
    ),
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

GOOD: list[Variant] = [
    Variant(
        "two_apps_isolated",
        "the mock with a second app: another app's key is refused as another user is",
        "isolation",
        lambda app: mock_app(api_keys=[KEY, OTHER_KEY]),
        extra=OTHER_APP_ARGS,
    ),
]
