"""Annotations (admin): list, create, update, delete; the annotation reply setting and its jobs;
and the reply itself: with replies enabled, a query close enough to an annotation's question is
answered with the annotation's answer.

Real servers compare embeddings; the mock compares text: the similarity of the casefolded,
stripped query and question (difflib's ratio, 0..1, at a bounded cost: mock_server.similarity) must
reach the setting's `score_threshold`, so an exact question always matches. The job of a setting
change completes at once.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Response

from mock_server import app_store, store
from mock_server.errors import ApiError
from mock_server.handlers.base import Call, json_response
from mock_server.ids import account_id
from mock_server.similarity import best_match

ANNOTATION_NOT_FOUND = ApiError(404, "Annotation not found.", "not_found")


def list_annotations(call: Call) -> Response:
    p = call.v.params
    page, limit = p["page"], p["limit"]
    data, total = app_store.list_annotations(call.db, call.key, page, limit, p.get("keyword") or "")
    return json_response(
        {"data": data, "has_more": page * limit < total, "limit": limit, "total": total, "page": page}
    )


def create_annotation(call: Call) -> Response:
    annotation_id = str(uuid.uuid4())
    app_store.insert_annotation(call.db, call.key, annotation_id, call.body["question"], call.body["answer"])
    written = app_store.get_annotation(call.db, call.key, annotation_id)
    assert written is not None  # the row just inserted
    return json_response(app_store.annotation_row(written), 201)


def update_annotation(call: Call) -> Response:
    annotation_id = call.v.params["annotation_id"].lower()
    if not app_store.update_annotation(
        call.db, call.key, annotation_id, call.body["question"], call.body["answer"]
    ):
        raise ANNOTATION_NOT_FOUND
    written = app_store.get_annotation(call.db, call.key, annotation_id)
    assert written is not None  # the row just updated
    return json_response(app_store.annotation_row(written))


def delete_annotation(call: Call) -> Response:
    if not app_store.delete_annotation(call.db, call.key, call.v.params["annotation_id"].lower()):
        raise ANNOTATION_NOT_FOUND
    return Response(status=204)


def set_annotation_reply(call: Call) -> Response:
    action, body = call.v.params["action"], call.body
    job_id = str(uuid.uuid4())
    with store.transaction(call.db):
        app_store.set_reply_setting(
            call.db,
            call.key,
            action == "enable",
            float(body["score_threshold"]),
            str(body["embedding_provider_name"]),
            str(body["embedding_model_name"]),
        )
        app_store.insert_job(call.db, call.key, job_id, action)
    store.settings_changed(call.db)  # every worker's cached reply setting (MockState.reply_setting)
    return json_response({"job_id": job_id, "job_status": "waiting"})


def get_annotation_reply_status(call: Call) -> Response:
    p = call.v.params
    job = app_store.get_job(call.db, call.key, p["job_id"].lower(), p["action"])
    if job is None:
        raise ApiError(400, "The job does not exist.", "invalid_param")
    return json_response({"job_id": job["id"], "job_status": "completed", "error_msg": ""})


def annotation_reply(call: Call, query: str) -> tuple[str, str] | None:
    """(id, answer) of the annotation that answers `query`, or None: replies off, or no question
    similar enough. It only reads: count the hit (app_store.count_hit) where the reply is stored."""
    setting = call.state.reply_setting(call.db, call.key)
    if setting is None or not setting["enabled"]:
        return None
    rows = app_store.annotation_questions(call.db, call.key)
    found = best_match(query, [row["question"] for row in rows], setting["score_threshold"])
    if found is None:
        return None
    best = app_store.get_annotation(call.db, call.key, rows[found[0]]["id"])
    return (str(best["id"]), str(best["answer"])) if best is not None else None


def annotation_record(call: Call, annotation_id: str) -> dict[str, Any]:
    """`metadata.annotation_reply` of an answer an annotation gave: Dify's shape (its task pipeline's
    `{id, account: {id, name}}`), the account being the app's author who wrote the annotations."""
    author = str((call.app.raw.get("app") or {}).get("author_name") or "Dify user")
    return {"id": annotation_id, "account": {"id": account_id(call.key), "name": author}}


HANDLERS = {
    "listAnnotations": list_annotations,
    "createAnnotation": create_annotation,
    "updateAnnotation": update_annotation,
    "deleteAnnotation": delete_annotation,
    "setAnnotationReply": set_annotation_reply,
    "getAnnotationReplyStatus": get_annotation_reply_status,
}
