"""Conversations of a user: list, rename, delete."""

from __future__ import annotations

from flask import Response, request

from mock_server import store
from mock_server.handlers.base import Call, bad_param, json_response, not_found, user_of
from mock_server.naming import derive_name


def list_conversations(call: Call) -> Response:
    p = call.v.params
    page = store.list_conversations(
        call.db,
        call.key,
        user_of(call),
        p.get("last_id") or None,
        p["limit"],
        p.get("sort_by", "-updated_at"),
    )
    if page is None:
        raise not_found("Last Conversation Not Exists.")
    data, has_more = page
    return json_response({"limit": p["limit"], "has_more": has_more, "data": data})


def rename_conversation(call: Call) -> Response:
    body, conv_id = call.body, call.v.params["conversation_id"]
    user = user_of(call)
    conn = call.db
    conv = store.get_conversation(conn, call.key, user, conv_id)
    if conv is None:
        raise not_found("Conversation Not Exists.")
    if body.get("auto_generate"):
        name = derive_name(store.first_query(conn, conv_id) or conv["name"])
    else:
        name = body.get("name") or ""
        if not name.strip():
            raise bad_param("name", "name is required unless auto_generate is true")
    document = document_form()
    store.rename_conversation(conn, call.key, user, conv_id, name)
    if document:
        return json_response({"result": "success"})
    return json_response(store.conversation_view(conn, call.key, user, conv_id))


def delete_conversation(call: Call) -> Response:
    document = document_form()  # a bad header must refuse before anything is deleted
    if not store.delete_conversation(call.db, call.key, user_of(call), call.v.params["conversation_id"]):
        raise not_found("Conversation Not Exists.")
    if document:
        return json_response({"result": "success"})
    return Response(status=204)


def document_form() -> bool:
    """`X-Mock-Response-Form: document` picks the 2023 document's legal answer over the real server's
    (rename: {"result": "success"} instead of the conversation; delete: 200 JSON instead of 204)."""
    form = request.environ.get("HTTP_X_MOCK_RESPONSE_FORM", "real").strip().lower()
    if form not in {"real", "document"}:
        raise bad_param("X-Mock-Response-Form", f"'{form}' is not one of 'real', 'document'")
    return form == "document"


HANDLERS = {
    "listConversations": list_conversations,
    "renameConversation": rename_conversation,
    "deleteConversation": delete_conversation,
}
