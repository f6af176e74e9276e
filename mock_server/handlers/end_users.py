"""End users: recorded the first time a request names them, readable by id (GET /end-users/{id}).

Real servers create an end user on the first request that carries its `user` (or the shared
default user for requests without one) and answer its record by id to the app's admins.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from flask import Response

from mock_server import app_store
from mock_server.errors import ApiError
from mock_server.handlers.base import DEFAULT_END_USER, Call, json_response, user_of
from mock_server.ids import app_id, end_user_id, tenant_id

_SEEN: set[tuple[str, str, str]] = set()  # (store, key, user) already recorded by this process
_SEEN_MAX = 100_000
_NAMES_USER: dict[str, bool] = {}


def _names_user(call: Call) -> bool:
    """Whether the operation takes a `user` (query, form or JSON body), read once from the contract."""
    op = call.op
    if op.operation_id not in _NAMES_USER:
        in_params = any(p.name == "user" for p in op.parameters)
        in_body = any(
            "user" in (call.state.contract.resolve(schema).get("properties") or {})
            for schema in op.body_schemas.values()
        )
        _NAMES_USER[op.operation_id] = in_params or in_body
    return _NAMES_USER[op.operation_id]


def remember(call: Call) -> None:
    """Record the request's end user (once per process and user; the store ignores repeats)."""
    if not _names_user(call):
        return
    user = user_of(call) if isinstance(user_of(call), str) else DEFAULT_END_USER
    seen = (call.state.db_path, call.key, user)
    if seen in _SEEN:
        return
    if len(_SEEN) >= _SEEN_MAX:
        _SEEN.clear()
    app_store.remember_end_user(
        call.db, end_user_id(call.key, user), call.key, user, anonymous=user == DEFAULT_END_USER
    )
    _SEEN.add(seen)


def with_end_user(handler: Callable[[Call], Response]) -> Callable[[Call], Response]:
    """The handler, recording the request's end user first (as real servers do before anything)."""

    def handle(call: Call) -> Response:
        remember(call)
        return handler(call)

    handle.__name__ = handler.__name__
    return handle


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_user_record(key: str, user: str, anonymous: bool, created_at: float) -> dict[str, Any]:
    return {
        "id": end_user_id(key, user),
        "tenant_id": tenant_id(key),
        "app_id": app_id(key),
        "type": "service_api",
        "external_user_id": user,
        "name": None,
        "is_anonymous": anonymous,
        "session_id": user,
        "created_at": _iso(created_at),
        "updated_at": _iso(created_at),
    }


def get_end_user(call: Call) -> Response:
    wanted = call.v.params["end_user_id"].lower()
    row = app_store.get_end_user(call.db, call.key, wanted)
    if row is not None:
        return json_response(
            end_user_record(call.key, row["user"], bool(row["anonymous"]), row["created_at"])
        )
    for owner in app_store.users_with_data(call.db, call.key):  # data seeded or stored before recording
        if end_user_id(call.key, owner["user"]) == wanted:
            return json_response(
                end_user_record(
                    call.key, owner["user"], owner["user"] == DEFAULT_END_USER, owner["created_at"]
                )
            )
    raise ApiError(404, "End user not found.", "end_user_not_found")


HANDLERS = {
    "getEndUser": get_end_user,
}
