"""Feedback on messages (like, dislike, revoke), and the app's list of every feedback (admin)."""

from __future__ import annotations

import datetime
import uuid

from flask import Response

from mock_server import store
from mock_server.handlers.base import Call, bad_param, json_response, not_found
from mock_server.ids import app_id, end_user_id


def create_message_feedback(call: Call) -> Response:
    body = call.body
    message = store.get_message(call.db, call.key, body["user"], call.v.params["message_id"])
    if message is None:
        raise not_found("Message Not Exists.")
    rating = body.get("rating")
    if rating is None and not message["rating"]:
        raise bad_param("rating", "the message has no feedback to remove")
    store.set_feedback(call.db, message["id"], rating, body.get("content"))
    return json_response({"result": "success"})


def _iso(ts: float) -> str:
    """UTC without an offset, as Dify 1.12.1 writes a feedback's times (chatflow/021-app_feedbacks.json)."""
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def list_app_feedbacks(call: Call) -> Response:
    """Every end user's feedback on the app's messages, newest first (not scoped to a user)."""
    p = call.v.params
    rows = store.list_feedbacks(call.db, call.key, p["page"], p["limit"])
    data = [
        {
            # a new rating after a revoke is a new feedback: the id follows the time it was given
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock-feedback:{r['id']}:{r['given_at']}")),
            "app_id": app_id(call.key),
            "conversation_id": r["conversation_id"],
            "message_id": r["id"],
            "rating": r["rating"],
            "content": r["feedback_content"],
            "from_source": "user",
            "from_end_user_id": end_user_id(call.key, r["user"]),
            "from_account_id": None,
            "created_at": _iso(r["given_at"]),
            "updated_at": _iso(r["changed_at"]),
        }
        for r in rows
    ]
    return json_response({"data": data})


HANDLERS = {
    "createMessageFeedback": create_message_feedback,
    "listAppFeedbacks": list_app_feedbacks,
}
