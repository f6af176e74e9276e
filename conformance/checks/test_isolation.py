"""isolation: a second user can neither read, continue, rename, delete, rate nor list another's data."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.chatapp import ChatApp
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import operation
from conformance.run import Run


@pytest.fixture(scope="module")
def owner(app: ChatApp, run: Run) -> dict[str, Any]:
    user = run.user("owner")
    answer = app.send_ok(user, "Which movie is the best?")
    return {"user": user, "conversation_id": answer["conversation_id"], "message_id": answer["id"]}


@pytest.fixture(scope="module")
def intruder(run: Run) -> str:
    return run.user("intruder")


def _owner_still_has(app: ChatApp, owner: dict[str, Any], *evidence: Any) -> dict[str, Any]:
    ex = app.messages(owner["user"], owner["conversation_id"], limit=100)
    expect(ex.status == 200, "the owner lost the conversation after another user's request", *evidence, ex)
    return expect_json_body(ex, operation("listMessages"))


@check(
    "isolation.list",
    "another user's conversations are never listed",
    contract=(
        "listConversations: pages through the calling user's conversations; other users' "
        "conversations never appear"
    ),
)
def test_list(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.conversations(intruder, limit=100)
    expect_status(ex, 200)
    body = expect_json_body(ex, operation("listConversations"))
    ids = [c.get("id") for c in body["data"]]
    expect(owner["conversation_id"] not in ids, "another user's conversation is listed", ex)
    expect(not ids, f"a fresh user sees {len(ids)} conversation(s) it never created", ex)


@check("isolation.read", "another user's history is 404")
def test_read(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    expect_error(
        app.messages(intruder, owner["conversation_id"]), operation("listMessages"), 404, "not_found"
    )


@check(
    "isolation.continue",
    "another user cannot continue the conversation (404)",
    contract=(
        "sendChatMessage: a `conversation_id` that belongs to another `user` answers 404 "
        '`not_found` "Conversation Not Exists."'
    ),
)
def test_continue(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.send(intruder, "Let me in", owner["conversation_id"], spend=False)
    expect_error(ex, operation("sendChatMessage"), 404, "not_found")
    body = _owner_still_has(app, owner, ex)
    expect(
        all(m.get("query") != "Let me in" for m in body["data"]),
        "the other user's message was added to the owner's conversation",
        ex,
    )


@check(
    "isolation.rename",
    "another user cannot rename the conversation (404, name unchanged)",
    contract="renameConversation: another user's conversation: 404, and the name is unchanged",
)
def test_rename(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.rename(intruder, owner["conversation_id"], name="hijacked")
    expect_error(ex, operation("renameConversation"), 404, "not_found")
    listing = app.conversations(owner["user"], limit=100)
    names = [
        c.get("name")
        for c in (listing.json() or {}).get("data", [])
        if c.get("id") == owner["conversation_id"]
    ]
    expect(
        names and names[0] != "hijacked",
        "the other user's rename changed the owner's conversation",
        ex,
        listing,
    )


@check(
    "isolation.feedback",
    "another user cannot rate the message (404, no rating stored)",
    contract=(
        'createMessageFeedback: another user\'s message answers 404 "Message Not Exists.", and no '
        "rating is stored"
    ),
)
def test_feedback(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.feedback(intruder, owner["message_id"], "dislike")
    expect_error(ex, operation("createMessageFeedback"), 404, "not_found")
    body = _owner_still_has(app, owner, ex)
    rated = [m.get("feedback") for m in body["data"] if m.get("id") == owner["message_id"]]
    expect(rated and rated[0] is None, f"the other user's rating was stored: {rated}", ex)


@check(
    "isolation.delete",
    "another user cannot delete the conversation (404, still there)",
    contract="deleteConversation: another user's conversation: 404, and nothing is deleted",
)
def test_delete(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.delete(intruder, owner["conversation_id"])
    expect_error(ex, operation("deleteConversation"), 404, "not_found")
    _owner_still_has(app, owner, ex)
