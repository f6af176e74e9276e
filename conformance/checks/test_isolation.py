"""isolation: a second user can neither read, continue, rename, delete, rate, stop nor list another's data.

`isolation.owned` covers the operations of the contract that scope their resource to the end user
(`x-resource-owner: end-user`): another user's ids must be 404. The dedicated checks below judge the
others of them, with their after-effects (nothing changed afterwards). Operations on the app's own
data (`x-resource-owner: app`: annotations, app feedbacks, end users, app info) are shared by every
user of the app, so there is no isolation between users to judge there: they are not checks of this
area at all (not collected, never reported as skipped).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import contract
from conformance.causes import ISOLATION
from conformance.chatapp import ChatApp
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, needs_page
from conformance.contract import operation
from conformance.foreign import expect_owner_went_on, stop_by_intruder
from conformance.http import Client
from conformance.longstream import LongStream
from conformance.run import Run

OPS = contract.operations()
# Operations a dedicated check below judges with its after-effects (isolation.owned leaves them to it).
DEEPER = {
    "listConversations": "isolation.list",
    "listMessages": "isolation.read",
    "sendChatMessage": "isolation.continue",
    "renameConversation": "isolation.rename",
    "createMessageFeedback": "isolation.feedback",
    "deleteConversation": "isolation.delete",
}


@pytest.fixture(scope="module")
def owner(app: ChatApp, run: Run) -> dict[str, Any]:
    user = run.user("owner")
    answer = app.send_ok(user, "Which movie is the best?")
    return {"user": user, "conversation_id": answer["conversation_id"], "message_id": answer["id"]}


def _owned_ids(app: ChatApp, owner: dict[str, Any]) -> dict[str, str]:
    """The owner's ids by the parameter names that carry them (a variable only where the app has one)."""
    ids = {"conversation_id": owner["conversation_id"], "message_id": owner["message_id"]}
    if any(o.operation_id == "listConversationVariables" for o in OPS):
        ex = app.client.call(
            "GET", f"/conversations/{owner['conversation_id']}/variables", params={"user": owner["user"]}
        )
        body = ex.json() if ex.status == 200 else None
        data = body.get("data") if isinstance(body, dict) else None
        first = data[0] if isinstance(data, list) and data else None
        if isinstance(first, dict) and isinstance(first.get("id"), str):
            ids["variable_id"] = first["id"]
    return ids


def _intruding_request(op: contract.Operation, ids: dict[str, str], intruder: str) -> dict[str, Any]:
    """`op` aimed at the owner's resource, as the intruder: the owner's ids, the intruder's `user`."""
    path = op.path
    for name in op.path_params():
        if name not in ids:
            pytest.skip(f"the owner has no {name} to aim {op.operation_id} at (the app has none)")
        path = path.replace("{" + name + "}", ids[name])
    kwargs: dict[str, Any] = {}
    media, example = op.request_example()
    if media == "application/json":
        body = dict(example) if isinstance(example, dict) else {}
        body.update({k: v for k, v in ids.items() if k in body})
        body["user"] = intruder
        kwargs["json_body"] = body
    if op.method == "GET":
        kwargs["params"] = {"user": intruder, **{k: v for k, v in ids.items() if op.parameter(k)}}
    return {"method": op.method, "path": path, **kwargs}


def _owned_here(op: contract.Operation) -> bool:
    """An operation isolation.owned judges: scoped to the end user, and no dedicated check of its own."""
    owned = op.spec.get("x-resource-owner") == "end-user" and op.tag == "chat-app"
    return owned and op.operation_id not in DEEPER


OWNED = [o for o in OPS if _owned_here(o)]


@check(
    "isolation.owned",
    "on every operation the contract scopes to a user, another user's resource is 404",
    cause=ISOLATION,
    contract=(
        "x-resource-owner: end-user: the operation reads or writes the calling user's resource only; "
        "another user's id answers 404 `not_found`"
    ),
)
@pytest.mark.parametrize("op", OWNED, ids=[o.operation_id for o in OWNED])
def test_owned(op: contract.Operation, request: pytest.FixtureRequest) -> None:
    app: ChatApp = request.getfixturevalue("app")
    owner: dict[str, Any] = request.getfixturevalue("owner")
    intruder: str = request.getfixturevalue("intruder")
    client: Client = request.getfixturevalue("client")
    req = _intruding_request(op, _owned_ids(app, owner), intruder)
    ex = client.call(req.pop("method"), req.pop("path"), **req)
    expect_error(ex, op, 404, "not_found")


if not OWNED:  # an era whose contract leaves it nothing (2023): no placeholder parametrized over nothing
    del test_owned


@pytest.fixture(scope="module")
def intruder(run: Run) -> str:
    return run.user("intruder")


def _owner_still_has(app: ChatApp, owner: dict[str, Any], *evidence: Any) -> dict[str, Any]:
    ex = app.messages(owner["user"], owner["conversation_id"], limit=100)
    expect(ex.status == 200, "the owner lost the conversation after another user's request", *evidence, ex)
    return needs_page(ex, operation("listMessages"))  # the page's schema is history's to judge


@check(
    "isolation.list",
    "another user's conversations are never listed",
    cause=ISOLATION,
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


@check("isolation.read", "another user's history is 404", cause=ISOLATION)
def test_read(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    expect_error(
        app.messages(intruder, owner["conversation_id"]), operation("listMessages"), 404, "not_found"
    )


@check(
    "isolation.continue",
    "another user cannot continue the conversation (404)",
    cause=ISOLATION,
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
    cause=ISOLATION,
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
    cause=ISOLATION,
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
    cause=ISOLATION,
    contract="deleteConversation: another user's conversation: 404, and nothing is deleted",
)
def test_delete(app: ChatApp, owner: dict[str, Any], intruder: str) -> None:
    ex = app.delete(intruder, owner["conversation_id"])
    expect_error(ex, operation("deleteConversation"), 404, "not_found")
    _owner_still_has(app, owner, ex)


@check(
    "isolation.stop",
    "another user cannot stop the owner's running answer",
    cause=ISOLATION,
    contract=(
        "stopChatMessage: stops the calling user's own task; another user's stop of it may answer "
        "success (stop is idempotent) but the owner's stream goes on to its whole answer"
    ),
)
def test_stop(app: ChatApp, client: Client, run: Run, long_stream: LongStream) -> None:
    owner, intruder = run.user("stop-owner"), run.user("stop-intruder")
    expect_owner_went_on(stop_by_intruder(app, owner, client, intruder, long_stream), "another user")
