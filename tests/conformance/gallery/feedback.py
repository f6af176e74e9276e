"""Message feedback: POST /messages/{id}/feedbacks."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def feedback_not_stored(app: App) -> App:
    return wrap(
        app,
        path=r"/v1/messages/[^/]+/feedbacks$",
        method="POST",
        intercept=lambda env: (200, [("Content-Type", "application/json")], b'{"result": "success"}'),
    )


def _ignore_rating(rating: Any) -> Callable[[App], App]:
    def make(app: App) -> App:
        def maybe(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
            length = int(env.get("CONTENT_LENGTH") or 0)
            raw = env["wsgi.input"].read(length)
            env["wsgi.input"] = io.BytesIO(raw)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return None
            if isinstance(body, dict) and "rating" in body and body["rating"] == rating:
                return 200, [("Content-Type", "application/json")], b'{"result": "success"}'
            return None

        return wrap(app, path=r"/v1/messages/[^/]+/feedbacks$", method="POST", intercept=maybe)

    return make


def rating_required(app: App) -> App:
    """The 2023 rule served today: a feedback without `rating` is refused (here: sent as invalid)."""

    def require(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and "rating" not in body:
            body["rating"] = "missing"
        return body

    return wrap(app, path=r"/v1/messages/[^/]+/feedbacks$", method="POST", request=require)


def app_feedbacks_empty(app: App) -> App:
    """The admin list never shows anything."""
    return wrap(
        app,
        path=r"/v1/app/feedbacks$",
        intercept=lambda env: (200, [("Content-Type", "application/json")], b'{"data": []}'),
    )


def app_feedbacks_oldest_first(app: App) -> App:
    def flip(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            body["data"].reverse()
        return code, body

    return wrap(app, path=r"/v1/app/feedbacks$", method="GET", json_response=flip)


BROKEN: list[Variant] = [
    Variant(
        "app_feedbacks_oldest_first",
        "the app's feedbacks listed oldest first",
        "feedback",
        app_feedbacks_oldest_first,
        ("feedback.app_order",),
    ),
    Variant(
        "app_feedbacks_empty",
        "the app's feedback list is always empty",
        "feedback",
        app_feedbacks_empty,
        ("feedback.app_list",),
    ),
    Variant(
        "feedback_not_stored",
        "feedback answers success but stores nothing",
        "feedback",
        feedback_not_stored,
        ("feedback.like",),
    ),
    Variant(
        "dislike_ignored",
        "dislike answers success but is not stored",
        "feedback",
        _ignore_rating("dislike"),
        ("feedback.dislike",),
    ),
    Variant(
        "undo_ignored",
        "rating null answers success but keeps the rating",
        "feedback",
        _ignore_rating(None),
        ("feedback.undo",),
    ),
    Variant(
        "rating_required",
        "a feedback without rating is refused (today it revokes)",
        "feedback",
        rating_required,
        ("feedback.absent_rating",),
    ),
]

GOOD: list[Variant] = []
