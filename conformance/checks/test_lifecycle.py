"""lifecycle: rename and delete, their effect on the list and history, and the 404s afterwards.

Both legal answer forms are accepted: rename may answer the conversation or {"result": "success"},
delete may answer 204 with no body or 200 {"result": "success"}.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.causes import DELETED_STAYS
from conformance.chatapp import ChatApp, random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, needs_page
from conformance.contract import operation
from conformance.http import Exchange
from conformance.run import Run

RENAME = operation("renameConversation")
DELETE = operation("deleteConversation")


@pytest.fixture(scope="module")
def renamed(app: ChatApp, run: Run) -> tuple[str, str, str, Exchange]:
    """(user, conversation id, new name, rename answer)."""
    user = run.user("rename")
    cid = app.send_ok(user, "Which movie is the best?")["conversation_id"]
    name = f"Renamed by conformance {run.run_id}"
    return user, cid, name, app.rename(user, cid, name=name)


@pytest.fixture(scope="module")
def deleted(app: ChatApp, run: Run) -> tuple[str, str, Exchange, Any]:
    """(user, conversation id, delete answer, one message id) of a conversation deleted by its owner."""
    user = run.user("delete")
    answer = app.send_ok(user, "Which movie is the best?")
    return user, answer["conversation_id"], app.delete(user, answer["conversation_id"]), answer["id"]


def _find(app: ChatApp, user: str, cid: str) -> tuple[dict[str, Any] | None, Exchange]:
    ex = app.conversations(user, limit=100)
    expect_status(ex, 200)
    body = needs_page(ex, operation("listConversations"))  # its schema is conversations' to judge
    return next((c for c in body["data"] if c.get("id") == cid), None), ex


@check(
    "lifecycle.rename",
    "rename answers the conversation (with the new name) or {result: success}",
    contract=(
        "renameConversation: answers the updated conversation object (with the new name) or "
        '`{"result": "success"}`; both are conformant'
    ),
)
def test_rename(renamed: tuple[str, str, str, Exchange]) -> None:
    _user, cid, name, ex = renamed
    expect_status(ex, 200)
    body = expect_json_body(ex, RENAME)
    if isinstance(body, dict) and "result" not in body:
        expect(body.get("id") == cid, f"rename answered conversation {body.get('id')}, not {cid}", ex)
        expect(body.get("name") == name, f"rename answered name {body.get('name')!r}, wanted {name!r}", ex)


@check(
    "lifecycle.rename_visible",
    "the new name shows in the conversation list",
    contract="renameConversation: the new name shows in `GET /conversations`",
)
def test_rename_visible(app: ChatApp, renamed: tuple[str, str, str, Exchange]) -> None:
    user, cid, name, _ = renamed
    found, ex = _find(app, user, cid)
    expect(found is not None, f"conversation {cid} missing from the list after rename", ex)
    expect(
        found and found.get("name") == name,
        f"list shows name {found and found.get('name')!r}, wanted {name!r}",
        ex,
    )


@check("lifecycle.rename_requires_name", "rename without a name (and no auto_generate) is 400")
@pytest.mark.parametrize("body", [{}, {"name": ""}], ids=["missing", "empty"])
def test_rename_requires_name(
    app: ChatApp, renamed: tuple[str, str, str, Exchange], body: dict[str, Any]
) -> None:
    expect_error(app.rename(renamed[0], renamed[1], **body), RENAME, 400)


@check(
    "lifecycle.rename_auto_generate",
    "rename with auto_generate true succeeds",
    contract="renameConversation: with `auto_generate: true` the server derives a name from the conversation",
)
def test_rename_auto_generate(app: ChatApp, renamed: tuple[str, str, str, Exchange]) -> None:
    ex = app.rename(renamed[0], renamed[1], auto_generate=True)
    expect_status(ex, 200)
    body = expect_json_body(ex, RENAME)
    if isinstance(body, dict) and "name" in body:
        expect(body["name"], "auto_generate produced an empty name", ex)


@check("lifecycle.rename_unknown", "renaming an unknown conversation is 404 not_found")
def test_rename_unknown(app: ChatApp, run: Run) -> None:
    expect_error(app.rename(run.user("rename"), random_id(), name="x"), RENAME, 404, "not_found")


@check(
    "lifecycle.delete",
    "delete answers 204 with no body or 200 {result: success}",
    contract='deleteConversation: 204 with no body or 200 `{"result": "success"}`; both are conformant',
)
def test_delete(deleted: tuple[str, str, Exchange, Any]) -> None:
    ex = deleted[2]
    expect_status(ex, (200, 204))
    if ex.status == 204:
        expect(ex.text == "", "204 with a body", ex)
    else:
        expect_json_body(ex, DELETE)


@check(
    "lifecycle.deleted_unlisted",
    "a deleted conversation is gone from the list",
    cause=DELETED_STAYS,
    contract="deleteConversation: afterwards the conversation is absent from `GET /conversations`",
)
def test_deleted_unlisted(app: ChatApp, deleted: tuple[str, str, Exchange, Any]) -> None:
    found, ex = _find(app, deleted[0], deleted[1])
    expect(found is None, f"deleted conversation {deleted[1]} is still listed", deleted[2], ex)


@check("lifecycle.deleted_history_404", "history of a deleted conversation is 404", cause=DELETED_STAYS)
def test_deleted_history(app: ChatApp, deleted: tuple[str, str, Exchange, Any]) -> None:
    expect_error(app.messages(deleted[0], deleted[1]), operation("listMessages"), 404, "not_found")


@check(
    "lifecycle.deleted_continue_404",
    "continuing a deleted conversation is 404",
    cause=DELETED_STAYS,
    contract="deleteConversation: afterwards continuing the conversation is 404",
)
def test_deleted_continue(app: ChatApp, deleted: tuple[str, str, Exchange, Any]) -> None:
    ex = app.send(deleted[0], "Are you still there?", deleted[1], spend=False)
    expect_error(ex, operation("sendChatMessage"), 404, "not_found")


@check("lifecycle.deleted_rename_404", "renaming a deleted conversation is 404", cause=DELETED_STAYS)
def test_deleted_rename(app: ChatApp, deleted: tuple[str, str, Exchange, Any]) -> None:
    expect_error(app.rename(deleted[0], deleted[1], name="ghost"), RENAME, 404, "not_found")


@check("lifecycle.deleted_delete_404", "deleting a deleted conversation again is 404", cause=DELETED_STAYS)
def test_deleted_delete(app: ChatApp, deleted: tuple[str, str, Exchange, Any]) -> None:
    expect_error(app.delete(deleted[0], deleted[1]), DELETE, 404, "not_found")


@check("lifecycle.delete_unknown", "deleting an unknown conversation is 404 not_found")
def test_delete_unknown(app: ChatApp, run: Run) -> None:
    expect_error(app.delete(run.user("delete"), random_id()), DELETE, 404, "not_found")
