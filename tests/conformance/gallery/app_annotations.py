"""Annotations (admin) and the annotation reply setting."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, mock_app
from tests.conformance.rewrite import wrap

JSON = [("Content-Type", "application/json")]
ONE = r"/v1/apps/annotations/[^/]+$"


def created_with_hits(app: App) -> App:
    def counted(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return code, {**body, "hit_count": 1} if isinstance(body, dict) else body

    return wrap(app, path=r"/v1/apps/annotations$", method="POST", json_response=counted)


def total_of_the_page(app: App) -> App:
    """`total` counts the page, not every match."""

    def page_total(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body["total"] = len(body["data"])
        return code, body

    return wrap(app, path=r"/v1/apps/annotations$", method="GET", json_response=page_total)


def updates_not_stored(app: App) -> App:
    """PUT echoes the request as the annotation, for any id, and stores nothing."""

    def echo(env: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        raw = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
        sent = json.loads(raw or b"{}")
        annotation = {
            "id": env["PATH_INFO"].rsplit("/", 1)[-1],
            "question": sent.get("question"),
            "answer": sent.get("answer"),
            "hit_count": 0,
            "created_at": int(time.time()),
        }
        return 200, JSON, json.dumps(annotation).encode()

    return wrap(app, path=ONE, method="PUT", intercept=echo)


def deletes_not_done(app: App) -> App:
    """DELETE answers 204 for any id and deletes nothing."""
    return wrap(app, path=ONE, method="DELETE", intercept=lambda env: (204, [], b""))


def any_job_completed(app: App) -> App:
    def done(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 400:
            return 200, {
                "job_id": env["PATH_INFO"].rsplit("/", 1)[-1],
                "job_status": "completed",
                "error_msg": "",
            }
        return code, body

    return wrap(app, path=r"/v1/apps/annotation-reply/[^/]+/status/[^/]+$", json_response=done)


def reply_setting_ignored(app: App) -> App:
    """The setting's jobs are answered (and complete) but replies are never turned on."""

    def job(env: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        return 200, JSON, json.dumps({"job_id": str(uuid.uuid4()), "job_status": "waiting"}).encode()

    def status(env: Any) -> tuple[int, list[tuple[str, str]], bytes]:
        done = {"job_id": env["PATH_INFO"].rsplit("/", 1)[-1], "job_status": "completed", "error_msg": ""}
        return 200, JSON, json.dumps(done).encode()

    inner = wrap(app, path=r"/v1/apps/annotation-reply/[^/]+/status/[^/]+$", intercept=status)
    return wrap(inner, path=r"/v1/apps/annotation-reply/[^/]+$", method="POST", intercept=job)


def dify_has_more(app: App) -> App:
    """Legal: `has_more` true for every full page (Dify's `len(page) == limit`)."""

    def full(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if isinstance(body, dict) and isinstance(body.get("data"), list):
            body["has_more"] = len(body["data"]) == body.get("limit")
        return code, body

    return wrap(app, path=r"/v1/apps/annotations$", method="GET", json_response=full)


def listed_oldest_first(app: App) -> App:
    def flip(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            body["data"].reverse()
        return code, body

    return wrap(app, path=r"/v1/apps/annotations$", method="GET", json_response=flip)


def page_ignored(app: App) -> App:
    """Every `page` is the first page (only fuzzing's range on `page` ever saw this before)."""

    def first(env: Any, body: Any, query: dict[str, str]) -> Any:
        query.pop("page", None)
        return body

    return wrap(app, path=r"/v1/apps/annotations$", method="GET", request=first)


BROKEN: list[Variant] = [
    Variant(
        "annotations_oldest_first",
        "annotations listed oldest first",
        "annotations",
        listed_oldest_first,
        ("annotations.order",),
    ),
    Variant(
        "annotations_page_ignored",
        "annotation pages all answer page 1",
        "annotations",
        page_ignored,
        ("annotations.pages",),
    ),
    Variant(
        "annotation_created_with_hits",
        "a new annotation with a hit",
        "annotations",
        created_with_hits,
        ("annotations.create",),
    ),
    Variant(
        "annotations_total_of_the_page",
        "total counts one page",
        "annotations",
        total_of_the_page,
        ("annotations.list",),
    ),
    Variant(
        "annotation_updates_not_stored",
        "PUT echoes and stores nothing, for any id",
        "annotations",
        updates_not_stored,
        ("annotations.update", "annotations.unknown"),
    ),
    Variant(
        "annotation_deletes_not_done",
        "DELETE answers 204 and deletes nothing",
        "annotations",
        deletes_not_done,
        ("annotations.delete",),
    ),
    Variant(
        "annotation_any_job_completed",
        "every job id reports completed",
        "annotations",
        any_job_completed,
        ("annotations.unknown_job",),
    ),
    Variant(
        "annotation_reply_setting_ignored",
        "replies never turned on",
        "annotations",
        reply_setting_ignored,
        ("annotations.reply",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "agent_app_admin",
        "the agent app (streaming only): annotations answer through agent_message pieces",
        "annotations,appinfo,feedback,suggestions",
        lambda app: mock_app(app_bindings={KEY: "agent"}),
    ),
    Variant("annotations_dify_has_more", "has_more true for a full last page", "annotations", dify_has_more),
]
