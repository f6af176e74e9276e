"""isolation.other_app: another app on the same server (--other-app-key) cannot reach this app's data.

Conversations, messages, tasks and files belong to the app whose key made them. Another app's key,
even with the very same `user` string, must be refused as another user is: 404 for a conversation
or message it does not own (403 or 404 for a file), nothing changed afterwards, and the owner's
running answer not stopped. Dify 1.12.1 deletes by id for any key (reference-defects.yaml). Without
--other-app-key these checks skip with that reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.causes import ISOLATION
from conformance.chatapp import ChatApp, accepts_files, valid_inputs
from conformance.checking import check, expect, expect_error, expect_status, needs, needs_page
from conformance.contract import operation, operation_or_skip
from conformance.foreign import expect_owner_went_on, stop_by_intruder
from conformance.http import Client
from conformance.longstream import LongStream
from conformance.run import Run
from conformance.samples import tiny_png

Owned = dict[str, Any]


@pytest.fixture(scope="module")
def owned(app: ChatApp, client: Client, run: Run, long_stream: LongStream) -> Owned:
    """A conversation of this app (with an attached image where the app takes files, and its first
    variable where it has some), made by a user whose name the other app will use too; and the run's
    long answer, the stop check's control (not started here: only that check waits for it)."""
    user = run.user("app-owner")
    files = []
    file_id = None
    if accepts_files(app.parameters) and _has("uploadFile"):
        up = client.call(
            "POST",
            "/files/upload",
            files={"file": ("other-app.png", tiny_png(seed=11), "image/png")},
            data={"user": user},
            evidence_body={"file": "other-app.png (a tiny PNG)", "user": user},
        )
        body = up.json()
        if up.status == 201 and isinstance(body, dict) and isinstance(body.get("id"), str):
            file_id = body["id"]
            files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": file_id}]
    ex = (
        app.send(user, "Which movie is the best?", files=files)
        if files
        else app.send(user, "Which movie is the best?")
    )
    expect_status(ex, 200, expected="sendChatMessage 200 (the owner's conversation)")
    answer = needs(ex, operation("sendChatMessage"), app.body(ex), "id", "conversation_id")
    owned = {
        "user": user,
        "conversation_id": answer["conversation_id"],
        "message_id": answer["id"],
        "file_id": file_id,
        "control": long_stream,
    }
    if _has("listConversationVariables"):
        listing = client.call(
            "GET", f"/conversations/{answer['conversation_id']}/variables", params={"user": user}
        )
        data = (
            (listing.json() or {}).get("data")
            if listing.status == 200 and isinstance(listing.json(), dict)
            else None
        )
        if isinstance(data, list) and data and isinstance(data[0], dict):
            owned["variable_id"] = data[0].get("id")
    return owned


def _has(operation_id: str) -> bool:
    try:
        operation(operation_id)
    except KeyError:
        return False
    return True


def _still_there(app: ChatApp, owned: Owned, *evidence: Any) -> dict[str, Any]:
    """The owner's history, which the other app's request must have left as it was."""
    ex = app.messages(owned["user"], owned["conversation_id"], limit=100)
    expect(ex.status == 200, "the owner lost the conversation after another app's request", *evidence, ex)
    return needs_page(ex, operation("listMessages"))


def _read_history(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call(
        "GET", "/messages", params={"conversation_id": owned["conversation_id"], "user": owned["user"]}
    )
    expect_error(ex, operation("listMessages"), 404, "not_found")


def _list(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call("GET", "/conversations", params={"user": owned["user"], "limit": 100})
    expect_status(ex, 200)
    ids = [c.get("id") for c in needs_page(ex, operation("listConversations"))["data"]]
    expect(owned["conversation_id"] not in ids, "another app lists this app's conversation", ex)


def _continue(app: ChatApp, other: Client, owned: Owned) -> None:
    params = other.call("GET", "/parameters", params={"user": owned["user"]}, mark_hang=False).json()
    form = params.get("user_input_form") if isinstance(params, dict) else None
    body = {
        "inputs": valid_inputs(form if isinstance(form, list) else None),  # the other app's own form
        "query": "Let me in",
        "response_mode": "blocking",
        "conversation_id": owned["conversation_id"],
        "user": owned["user"],
    }
    ex = other.call("POST", "/chat-messages", json_body=body)
    expect_error(ex, operation("sendChatMessage"), 404, "not_found")
    page = _still_there(app, owned, ex)
    expect(
        all(m.get("query") != "Let me in" for m in page["data"]),
        "another app's message joined the owner's conversation",
        ex,
    )


def _rename(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call(
        "POST",
        f"/conversations/{owned['conversation_id']}/name",
        json_body={"user": owned["user"], "name": "hijacked"},
    )
    expect_error(ex, operation("renameConversation"), 404, "not_found")
    listing = app.conversations(owned["user"], limit=100)
    names = [
        c.get("name")
        for c in (listing.json() or {}).get("data", [])
        if c.get("id") == owned["conversation_id"]
    ]
    expect(names and names[0] != "hijacked", "another app renamed this app's conversation", ex, listing)


def _feedback(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call(
        "POST",
        f"/messages/{owned['message_id']}/feedbacks",
        json_body={"rating": "dislike", "user": owned["user"]},
    )
    expect_error(ex, operation("createMessageFeedback"), 404, "not_found")
    page = _still_there(app, owned, ex)
    rated = [m.get("feedback") for m in page["data"] if m.get("id") == owned["message_id"]]
    expect(rated and rated[0] is None, f"another app's rating was stored: {rated}", ex)


def _suggested(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call("GET", f"/messages/{owned['message_id']}/suggested", params={"user": owned["user"]})
    expect_error(ex, operation("getSuggestedQuestions"), 404, "not_found")


def _variables(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call(
        "GET", f"/conversations/{owned['conversation_id']}/variables", params={"user": owned["user"]}
    )
    expect_error(ex, operation("listConversationVariables"), 404, "not_found")


def _variable_update(app: ChatApp, other: Client, owned: Owned) -> None:
    if not owned.get("variable_id"):
        pytest.skip("this app's conversation has no variable to aim at (the app declares none)")
    ex = other.call(
        "PUT",
        f"/conversations/{owned['conversation_id']}/variables/{owned['variable_id']}",
        json_body={"value": "hijacked", "user": owned["user"]},
    )
    expect_error(ex, operation("updateConversationVariable"), 404, "not_found")


def _preview(app: ChatApp, other: Client, owned: Owned) -> None:
    if not owned.get("file_id"):
        pytest.skip(
            "the app's /parameters does not enable file_upload with local images: no file was attached"
        )
    ex = other.call("GET", f"/files/{owned['file_id']}/preview", params={"user": owned["user"]})
    expect_status(ex, (403, 404), expected="previewFile: another app's file is 403 file_access_denied or 404")
    expect_error(ex, operation("previewFile"), int(ex.status or 404))


def _stop(app: ChatApp, other: Client, owned: Owned) -> None:
    user = app.run.user("app-stop-owner")
    expect_owner_went_on(stop_by_intruder(app, user, other, user, owned["control"]), "another app")


def _delete(app: ChatApp, other: Client, owned: Owned) -> None:
    ex = other.call("DELETE", f"/conversations/{owned['conversation_id']}", json_body={"user": owned["user"]})
    expect_error(ex, operation("deleteConversation"), 404, "not_found")
    _still_there(app, owned, ex)


# In run order: the delete last, so a server that deletes anyway spoils no other check.
JUDGES: dict[str, Callable[[ChatApp, Client, Owned], None]] = {
    "listMessages": _read_history,
    "listConversations": _list,
    "sendChatMessage": _continue,
    "renameConversation": _rename,
    "createMessageFeedback": _feedback,
    "getSuggestedQuestions": _suggested,
    "listConversationVariables": _variables,
    "updateConversationVariable": _variable_update,
    "previewFile": _preview,
    "stopChatMessage": _stop,
    "deleteConversation": _delete,
}


@check(
    "isolation.other_app",
    "another app's key cannot read, continue, rename, rate, stop, preview or delete this app's data",
    cause=ISOLATION,
    contract=(
        "every resource belongs to the app whose key made it: another app's key, even with the same "
        "`user`, gets 404 `not_found` (a file: 403 `file_access_denied` or 404) and changes nothing"
    ),
)
@pytest.mark.parametrize("operation_id", list(JUDGES))
def test_other_app(operation_id: str, request: pytest.FixtureRequest) -> None:
    other: Client = request.getfixturevalue("other_app_client")
    operation_or_skip(operation_id)
    app: ChatApp = request.getfixturevalue("app")
    JUDGES[operation_id](app, other, request.getfixturevalue("owned"))
