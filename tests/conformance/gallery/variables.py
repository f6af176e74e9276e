"""Conversation variables (list, filter, update by type), judged on the mock's chatflow app (the one
that declares variables; a chat app's list is empty, which is legal)."""

from __future__ import annotations

import ast
import contextlib
import json
from collections.abc import Callable
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, mock_app
from tests.conformance.rewrite import wrap

LIST = r"/v1/conversations/[^/]+/variables$"
ONE = r"/v1/conversations/[^/]+/variables/[^/]+$"


def on_chatflow(broken: Callable[[App], App]) -> Callable[[App], App]:
    """The variant's defect on the mock whose gallery key is the chatflow app."""
    return lambda _app: broken(mock_app(app_bindings={KEY: "chatflow"}))


def cursor_ignored(app: App) -> App:
    def drop(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("last_id", None)
        return body

    return wrap(app, path=LIST, method="GET", request=drop)


def filter_ignored(app: App) -> App:
    def drop(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("variable_name", None)
        return body

    return wrap(app, path=LIST, method="GET", request=drop)


def update_not_stored(app: App) -> App:
    """The update is answered but never written: the list keeps the values it started with."""

    def fake(env: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        raw = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
        value = json.loads(raw or b"{}").get("value")
        variable = {
            "id": env["PATH_INFO"].rsplit("/", 1)[-1],
            "name": "x",
            "value_type": "string",
            "value": value,
        }
        return 200, [("Content-Type", "application/json")], json.dumps(variable).encode()

    return wrap(app, path=ONE, method="PUT", intercept=fake)


def types_unchecked(app: App) -> App:
    """A value of any type is taken (the refusal turned into a success)."""

    def accept(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code != 400:
            return code, body
        variable = {
            "id": env["PATH_INFO"].rsplit("/", 1)[-1],
            "name": "x",
            "value_type": "string",
            "value": "?",
        }
        return 200, variable

    return wrap(app, path=ONE, method="PUT", json_response=accept)


def unknown_is_empty(app: App) -> App:
    """Any conversation id, unknown or another user's, lists as an empty page."""

    def empty(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 404:
            return 200, {"limit": 20, "has_more": False, "data": []}
        return code, body

    return wrap(app, path=LIST, method="GET", json_response=empty)


def python_str_values(app: App) -> App:
    """Legal: non-string values answered as Python's str() of them (what real servers send)."""

    def as_python(env: Any, code: int, body: Any) -> tuple[int, Any]:
        items = body.get("data", []) if isinstance(body, dict) and "data" in body else [body]
        for item in items:
            if (
                isinstance(item, dict)
                and item.get("value_type") != "string"
                and isinstance(item.get("value"), str)
            ):
                with contextlib.suppress(ValueError, SyntaxError):
                    item["value"] = str(
                        ast.literal_eval(item["value"].replace("true", "True").replace("false", "False"))
                    )
        return code, body

    return wrap(app, path=r"/v1/conversations/[^/]+/variables", json_response=as_python)


BROKEN: list[Variant] = [
    Variant(
        "variables_cursor_ignored",
        "last_id ignored",
        "variables",
        on_chatflow(cursor_ignored),
        ("variables.list",),
    ),
    Variant(
        "variables_filter_ignored",
        "variable_name ignored",
        "variables",
        on_chatflow(filter_ignored),
        ("variables.name_filter",),
    ),
    Variant(
        "variables_update_not_stored",
        "an update answered but not stored",
        "variables",
        on_chatflow(update_not_stored),
        ("variables.update",),
    ),
    Variant(
        "variables_types_unchecked",
        "a value of another type is accepted",
        "variables",
        on_chatflow(types_unchecked),
        ("variables.type_mismatch",),
    ),
    Variant(
        "variables_unknown_is_empty",
        "unknown and other users' conversations list as empty",
        "variables,isolation",
        on_chatflow(unknown_is_empty),
        ("variables.unknown", "isolation.owned"),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "chatflow_app_today",
        "the chatflow app: its variables, suggestions, info and isolation",
        "variables,suggestions,appinfo,isolation",
        on_chatflow(lambda app: app),
    ),
    Variant(
        "variables_python_str_values",
        "non-string values as Python's str() (real servers)",
        "variables",
        on_chatflow(python_str_values),
    ),
]
