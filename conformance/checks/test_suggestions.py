"""suggestions: the questions to suggest after an answer (GET /messages/{message_id}/suggested).

The app's `/parameters` says whether the feature is on (`suggested_questions_after_answer.enabled`):
on, the server answers the questions; off, real servers answer 400 `bad_request`. Another user's
message is judged by isolation.owned.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.chatapp import ChatApp, random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import operation_or_skip
from conformance.http import Client
from conformance.run import Run


@pytest.fixture(scope="module")
def answered(app: ChatApp, run: Run) -> dict[str, Any]:
    operation_or_skip("getSuggestedQuestions")
    user = run.user("suggest")
    answer = app.send_ok(user, "Which movie is the best?")
    return {"user": user, "message_id": answer["id"]}


def _enabled(client: Client, user: str) -> bool:
    params = client.call("GET", "/parameters", params={"user": user}).json()
    setting = params.get("suggested_questions_after_answer") if isinstance(params, dict) else None
    return bool(isinstance(setting, dict) and setting.get("enabled"))


@check(
    "suggestions.after_answer",
    "suggested questions after an answer, as the app's parameters switch them on or off",
    contract=(
        "getSuggestedQuestions: 200 {result: success, data: [questions]} when /parameters enables "
        "suggested_questions_after_answer; 400 bad_request when it does not"
    ),
)
def test_after_answer(client: Client, answered: dict[str, Any]) -> None:
    op = operation_or_skip("getSuggestedQuestions")
    ex = client.call(
        "GET", f"/messages/{answered['message_id']}/suggested", params={"user": answered["user"]}
    )
    if _enabled(client, answered["user"]):
        expect_status(ex, 200, expected="getSuggestedQuestions 200: the feature is enabled in /parameters")
        body = expect_json_body(ex, op)
        expect(all(q.strip() for q in body["data"]), "an empty suggested question", ex)
    else:
        expect_error(ex, op, 400, "bad_request")


@check(
    "suggestions.unknown_message",
    "suggestions for a message that does not exist: 404",
    contract='getSuggestedQuestions: an unknown message is 404 `not_found` "Message Not Exists."',
)
def test_unknown_message(client: Client, run: Run) -> None:
    op = operation_or_skip("getSuggestedQuestions")
    ex = client.call("GET", f"/messages/{random_id()}/suggested", params={"user": run.user("suggest")})
    expect_error(ex, op, 404, "not_found")
