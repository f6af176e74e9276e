"""Messages of a conversation: the history pages, and the questions to suggest after an answer."""

from __future__ import annotations

from flask import Response

from mock_server import store
from mock_server.errors import ApiError
from mock_server.handlers.base import Call, json_response, not_found, user_of
from mock_server.handlers.files import with_message_files


def list_messages(call: Call) -> Response:
    p = call.v.params
    if not p["conversation_id"]:  # today's servers: no conversation named, nothing to show
        return json_response({"limit": p["limit"], "has_more": False, "data": []})
    conv = store.get_conversation(call.db, call.key, user_of(call), p["conversation_id"])
    if conv is None:
        raise not_found("Conversation Not Exists.")
    page = store.list_messages(call.db, conv["id"], p.get("first_id") or None, p["limit"])
    if page is None:
        raise not_found("First Message Not Exists.")
    data, has_more = page
    return json_response({"limit": p["limit"], "has_more": has_more, "data": with_message_files(call, data)})


HANDLERS = {
    "listMessages": list_messages,
}


def get_suggested_questions(call: Call) -> Response:
    """Follow-up questions for the caller's message, when the app enables them (GET /parameters)."""
    message = store.get_message(call.db, call.key, user_of(call), call.v.params["message_id"])
    if message is None:
        raise not_found("Message Not Exists.")
    setting = call.app.parameters.get("suggested_questions_after_answer") or {}
    if not setting.get("enabled"):
        raise ApiError(400, "Suggested Questions Is Disabled.", "bad_request")
    return json_response({"result": "success", "data": call.state.engine.suggestions(message["query"])})


HANDLERS["getSuggestedQuestions"] = get_suggested_questions
