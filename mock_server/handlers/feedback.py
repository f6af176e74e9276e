"""Feedback on messages (like, dislike, revoke)."""

from __future__ import annotations

from flask import Response

from mock_server import store
from mock_server.handlers.base import Call, bad_param, json_response, not_found


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


HANDLERS = {
    "createMessageFeedback": create_message_feedback,
}
