"""Renaming and deleting conversations."""

from __future__ import annotations

from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def delete_does_nothing(app: App) -> App:
    return wrap(app, path=r"/v1/conversations/[^/]+$", method="DELETE", intercept=lambda env: (204, [], b""))


def rename_ignored(app: App) -> App:
    return wrap(
        app,
        path=r"/v1/conversations/[^/]+/name$",
        method="POST",
        intercept=lambda env: (200, [("Content-Type", "application/json")], b'{"result": "success"}'),
    )


def rename_returns_stale(app: App) -> App:
    def stale(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "name" in body:
            body["name"] = "New conversation"
        return code, body

    return wrap(app, path=r"/v1/conversations/[^/]+/name$", method="POST", json_response=stale)


def auto_generate_unsupported(app: App) -> App:
    def refuse(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and body.get("auto_generate") is True:
            body["name"] = ""
            body["auto_generate"] = False
        return body

    return wrap(app, path=r"/v1/conversations/[^/]+/name$", method="POST", request=refuse)


def delete_answers_html(app: App) -> App:
    def html_ok(env: Any, start_response: Any) -> Any:
        def sr(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("204"):
                env["gallery.204"] = True
                return start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "2")])
            return start_response(status, hdrs, exc_info)

        result = app(env, sr)
        return [b"OK"] if env.get("gallery.204") else result

    return html_ok


def delete_200(app: App) -> App:
    """DELETE answers the 2023 document's 200 {"result": "success"} instead of 204."""

    def answer(env: Any, start_response: Any) -> Any:
        seen: dict[str, bool] = {}

        def sr(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("204"):
                seen["204"] = True
                return start_response(
                    "200 OK", [("Content-Type", "application/json"), ("Content-Length", "21")]
                )
            return start_response(status, hdrs, exc_info)

        result = app(env, sr)
        return [b'{"result": "success"}'] if seen else result

    return answer


def rename_result_form(app: App) -> App:
    def result(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return (code, {"result": "success"}) if code == 200 else (code, body)

    return wrap(app, path=r"/v1/conversations/[^/]+/name$", method="POST", json_response=result)


BROKEN: list[Variant] = [
    Variant(
        "delete_does_nothing",
        "DELETE answers 204 but deletes nothing",
        "lifecycle",
        delete_does_nothing,
        (
            "lifecycle.deleted_unlisted",
            "lifecycle.deleted_history_404",
            "lifecycle.deleted_continue_404",
            "lifecycle.deleted_rename_404",
            "lifecycle.deleted_delete_404",
        ),
    ),
    Variant(
        "rename_ignored",
        "rename answers success but keeps the old name",
        "lifecycle",
        rename_ignored,
        ("lifecycle.rename_visible",),
    ),
    Variant(
        "rename_returns_stale",
        "rename answers the old name",
        "lifecycle",
        rename_returns_stale,
        ("lifecycle.rename",),
    ),
    Variant(
        "auto_generate_unsupported",
        "auto_generate refused with 400",
        "lifecycle",
        auto_generate_unsupported,
        ("lifecycle.rename_auto_generate",),
    ),
    Variant(
        "delete_answers_html",
        "delete answers 200 text/html",
        "lifecycle",
        delete_answers_html,
        ("lifecycle.delete",),
    ),
]

GOOD: list[Variant] = [
    Variant("delete_200", "DELETE answers 200 {result: success}", "lifecycle,isolation", delete_200),
    Variant("rename_result_form", "rename answers {result: success}", "lifecycle", rename_result_form),
]
