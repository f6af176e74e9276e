"""chat: blocking answers (shape, ids, continuity, created_at) and request validation."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.chatapp import ChatApp, random_id, valid_inputs
from conformance.checking import (
    check,
    expect,
    expect_error,
    expect_json_body,
    expect_status,
    fail,
    need_field,
    needs,
)
from conformance.contract import operation
from conformance.http import Exchange
from conformance.run import Run
from conformance.timestamps import PLAUSIBLE, plausible

SEND = operation("sendChatMessage")


@pytest.fixture(scope="module")
def first(app: ChatApp, run: Run) -> tuple[Exchange, Any]:
    ex = app.send(run.user("chat"), "Which movie is the best?")
    return ex, app.body(ex)


@pytest.fixture(scope="module")
def first_ok(first: tuple[Exchange, Any]) -> dict[str, Any]:
    """The first answer, for the checks that judge one field of it (chat.blocking_shape judges all)."""
    ex, body = first
    expect_status(ex, 200, expected="200 application/json with the answer")
    return needs(ex, SEND, body, "id", "conversation_id")


@check(
    "chat.blocking_shape",
    "a blocking answer is JSON matching the contract (a streaming-only app refuses blocking: 400)",
    contract=(
        "sendChatMessage, response_mode blocking: the answer is one JSON object matching the "
        "contract's 200 schema; an app whose mode is not in ChatAppAnswer's x-app-modes (agent-chat) "
        "answers 400 invalid_param"
    ),
)
def test_blocking_shape(first: tuple[Exchange, Any], app: ChatApp, run: Run) -> None:
    if not app.answers_blocking:  # the contract: such an app refuses blocking mode (400 invalid_param)
        ex = app.send(run.user("chat"), "Which movie is the best?", response_mode="blocking", spend=False)
        expect_error(ex, SEND, 400, "invalid_param")
        return
    ex, _ = first
    expect_status(ex, 200, expected="200 application/json with the answer")
    expect_json_body(ex, SEND)


@check(
    "chat.ids",
    "message and conversation ids are UUIDs; message_id (when sent) equals id",
    contract=(
        "sendChatMessage 200: `id` and `conversation_id` are UUIDs in canonical 8-4-4-4-12 form; "
        "`message_id`, when sent, equals `id`"
    ),
)
def test_ids(first_ok: dict[str, Any], first: tuple[Exchange, Any]) -> None:
    if "message_id" in first_ok:
        expect(first_ok["message_id"] == first_ok["id"], "message_id differs from id", first[0])
    expect(
        first_ok["id"] != first_ok["conversation_id"], "the message id equals the conversation id", first[0]
    )


@check(
    "chat.created_at",
    "created_at is plausible unix seconds (not milliseconds, not in the future)",
    contract="sendChatMessage 200: `created_at` is Unix time in whole seconds",
)
def test_created_at(first_ok: dict[str, Any], first: tuple[Exchange, Any]) -> None:
    created = need_field(first[0], SEND, first_ok, "created_at", int)
    expect(
        plausible(created),
        f"created_at {created} is not plausible unix seconds",
        first[0],
        expected=PLAUSIBLE,
    )


@check(
    "chat.continuity",
    "continuing a conversation keeps its id and gives a new message id",
    contract=(
        "sendChatMessage: a `conversation_id` continues the caller's conversation (same "
        "`conversation_id`, a new message `id`)"
    ),
)
def test_continuity(app: ChatApp, run: Run, first_ok: dict[str, Any]) -> None:
    ex = app.send(run.user("chat"), "Can you explain why?", first_ok["conversation_id"])
    expect_status(ex, 200)
    second = needs(ex, SEND, app.body(ex), "id", "conversation_id")
    expect(
        second["conversation_id"] == first_ok["conversation_id"],
        "the conversation id changed when continuing",
        ex,
    )
    expect(second["id"] != first_ok["id"], "the second answer reuses the first message id", ex)
    if isinstance(second.get("created_at"), int) and isinstance(first_ok.get("created_at"), int):
        expect(
            second["created_at"] >= first_ok["created_at"], "the second answer is older than the first", ex
        )


def _refused(app: ChatApp, run: Run, status: int, code: str | None, **body: Any) -> None:
    payload = {
        "inputs": valid_inputs(app.form),
        "query": "Which movie is the best?",
        "response_mode": app.response_mode,
        "user": run.user("chat"),
    }
    for key, value in body.items():
        if value is _ABSENT:
            payload.pop(key, None)
        else:
            payload[key] = value
    ex = app.client.call("POST", "/chat-messages", json_body=payload)
    if ex.status == 200:
        run.spent += 1
        data = ex.json()
        if isinstance(data, dict) and isinstance(data.get("conversation_id"), str):
            run.remember(run.user("chat"), data["conversation_id"])
    expect_error(ex, SEND, status, code)


_ABSENT = object()


@check("chat.missing_query", "a request without query is 400 invalid_param")
def test_missing_query(app: ChatApp, run: Run) -> None:
    _refused(app, run, 400, "invalid_param", query=_ABSENT)


@check("chat.empty_query", "an empty query is 400 invalid_param")
def test_empty_query(app: ChatApp, run: Run) -> None:
    _refused(app, run, 400, "invalid_param", query="")


@check("chat.missing_user", "a request without user is 400 invalid_param")
def test_missing_user(app: ChatApp, run: Run) -> None:
    _refused(app, run, 400, "invalid_param", user=_ABSENT)


@check("chat.bad_response_mode", "a response_mode other than blocking/streaming is 400 invalid_param")
def test_bad_response_mode(app: ChatApp, run: Run) -> None:
    _refused(app, run, 400, "invalid_param", response_mode="fast")


@check("chat.bad_conversation_id", "a conversation_id that is not a UUID is 400 invalid_param")
def test_bad_conversation_id(app: ChatApp, run: Run) -> None:
    _refused(app, run, 400, "invalid_param", conversation_id="not-a-uuid")


@check("chat.unknown_conversation", "an unknown conversation_id is 404 not_found")
def test_unknown_conversation(app: ChatApp, run: Run) -> None:
    _refused(app, run, 404, "not_found", conversation_id=random_id())


@check("chat.foreign_conversation", "another user's conversation_id is 404 not_found")
def test_foreign_conversation(app: ChatApp, run: Run, first_ok: dict[str, Any]) -> None:
    _refused(
        app, run, 404, "not_found", conversation_id=first_ok["conversation_id"], user=run.user("intruder")
    )


# ------------------------------------------------------------- inputs against the declared form


def _controls(app: ChatApp, kind: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    if app.form is None:
        pytest.skip("GET /parameters gave no user_input_form, so the form cannot be probed")
    out = []
    for item in app.form:
        if isinstance(item, dict) and len(item) == 1:
            k, control = next(iter(item.items()))
            if isinstance(control, dict) and (kind is None or k == kind):
                out.append((k, control))
    return out


@check("chat.input_required", "leaving out a required variable of user_input_form is 400 invalid_param")
def test_input_required(app: ChatApp, run: Run) -> None:
    required = [c for _k, c in _controls(app) if c.get("required")]
    if not required:
        pytest.skip("the app declares no required variable")
    inputs = valid_inputs(app.form)
    inputs.pop(required[0]["variable"], None)
    _refused(app, run, 400, "invalid_param", inputs=inputs)


@check("chat.input_select_options", "a Select value outside its options is 400 invalid_param")
def test_input_select_options(app: ChatApp, run: Run) -> None:
    selects = _controls(app, "select")
    if not selects:
        pytest.skip("the app declares no select variable")
    control = selects[0][1]
    value = "conformance-not-an-option"
    if value in (control.get("options") or []):
        fail("test value collides with an option")
    inputs = {**valid_inputs(app.form), control["variable"]: value}
    _refused(app, run, 400, "invalid_param", inputs=inputs)


@check("chat.input_max_length", "a text input longer than its max_length is 400 invalid_param")
def test_input_max_length(app: ChatApp, run: Run) -> None:
    texts = [c for k, c in _controls(app) if k in ("text-input", "paragraph") and c.get("max_length")]
    if not texts:
        pytest.skip("the app declares no text input with max_length")
    control = texts[0]
    inputs = {**valid_inputs(app.form), control["variable"]: "x" * (int(control["max_length"]) + 1)}
    _refused(app, run, 400, "invalid_param", inputs=inputs)


@check(
    "chat.stop_unknown_task",
    "stopping an unknown task answers 200 {result: success} (idempotent)",
    contract=(
        'stopChatMessage: an unknown or already finished task also answers `{"result": "success"}`; '
        "today `task_id` is any string, in 2023 a UUID"
    ),
)
def test_stop_unknown_task(app: ChatApp, run: Run) -> None:
    stop = operation("stopChatMessage")
    task = "task-" + random_id() if stop.accepts_parameter("task_id", "task-x", "path") else random_id()
    ex = app.client.call("POST", f"/chat-messages/{task}/stop", json_body={"user": run.user("chat")})
    expect_status(ex, 200, expected='200 {"result": "success"} for a task that is not running')
    expect_json_body(ex, stop)
