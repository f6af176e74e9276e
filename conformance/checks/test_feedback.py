"""feedback: like, dislike, undo, invalid ratings and unknown messages; ratings visible in history."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import contract
from conformance.causes import RATINGS_NOT_KEPT
from conformance.chatapp import ChatApp, random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, needs_page
from conformance.contract import operation
from conformance.http import Exchange
from conformance.run import Run

RATE = operation("createMessageFeedback")


@pytest.fixture(scope="module")
def message(app: ChatApp, run: Run) -> tuple[str, str, str]:
    """(user, conversation id, message id) of a fresh answer to rate."""
    user = run.user("feedback")
    answer = app.send_ok(user, "Which movie is the best?")
    return user, answer["conversation_id"], answer["id"]


def _rated(app: ChatApp, message: tuple[str, str, str]) -> tuple[Any, Exchange]:
    user, conversation_id, message_id = message
    ex = app.messages(user, conversation_id, limit=100)
    expect_status(ex, 200)
    body = needs_page(ex, operation("listMessages"))  # the page's schema is history's to judge
    found = [m for m in body["data"] if m.get("id") == message_id]
    expect(found, f"message {message_id} missing from its history", ex)
    return found[0].get("feedback"), ex


def _rate_ok(app: ChatApp, message: tuple[str, str, str], rating: Any) -> None:
    ex = app.feedback(message[0], message[2], rating)
    expect_status(ex, 200, expected='200 {"result": "success"}')
    expect_json_body(ex, RATE)


@check(
    "feedback.like",
    "rating like succeeds and history shows feedback {rating: like}",
    cause=RATINGS_NOT_KEPT,
    contract=(
        "createMessageFeedback: sets the user's rating; it is visible afterwards as `feedback: "
        '{"rating": ...}` on the message in `GET /messages`'
    ),
)
def test_like(app: ChatApp, message: tuple[str, str, str]) -> None:
    _rate_ok(app, message, "like")
    feedback, ex = _rated(app, message)
    expect(
        feedback == {"rating": "like"} or (isinstance(feedback, dict) and feedback.get("rating") == "like"),
        f"history shows feedback {feedback!r} after a like",
        ex,
    )


@check(
    "feedback.dislike",
    "rating dislike replaces the rating and shows in history",
    cause=RATINGS_NOT_KEPT,
    contract=(
        "createMessageFeedback: sets the user's rating (replacing an earlier one); it is visible "
        'afterwards as `feedback: {"rating": ...}` in `GET /messages`'
    ),
)
def test_dislike(app: ChatApp, message: tuple[str, str, str]) -> None:
    _rate_ok(app, message, "dislike")
    feedback, ex = _rated(app, message)
    expect(
        isinstance(feedback, dict) and feedback.get("rating") == "dislike",
        f"history shows feedback {feedback!r} after a dislike",
        ex,
    )


@check(
    "feedback.undo",
    "rating null removes the rating; history shows feedback null",
    cause=RATINGS_NOT_KEPT,
    contract=(
        "createMessageFeedback: `rating: null` removes an existing rating; `GET /messages` then "
        "shows `feedback: null`"
    ),
)
def test_undo(app: ChatApp, message: tuple[str, str, str]) -> None:
    _rate_ok(app, message, "like")
    _rate_ok(app, message, None)
    feedback, ex = _rated(app, message)
    expect(feedback is None, f"history shows feedback {feedback!r} after an undo", ex)


@check(
    "feedback.undo_without_rating",
    "rating null on a message without a rating is 400",
    contract=(
        "createMessageFeedback: `rating: null` on a message without a rating answers 400 `invalid_param`"
    ),
)
def test_undo_without_rating(app: ChatApp, message: tuple[str, str, str]) -> None:
    feedback, _ = _rated(app, message)
    if feedback is not None:
        _rate_ok(app, message, None)
    expect_error(app.feedback(message[0], message[2], None), RATE, 400)


@check(
    "feedback.absent_rating",
    "today: a feedback without `rating` removes the rating (200; history shows feedback null)",
    contract=(
        "createMessageFeedback (current era): `rating` is optional; absent, like `null`, it removes "
        "the rating"
    ),
)
def test_absent_rating(app: ChatApp, message: tuple[str, str, str]) -> None:
    if RATE.body_requires("rating"):
        pytest.skip(f"`rating` is required in the {contract.era()} era")
    _rate_ok(app, message, "like")
    user, _, message_id = message
    ex = app.client.call("POST", f"/messages/{message_id}/feedbacks", json_body={"user": user})
    expect_status(ex, 200, expected='200 {"result": "success"}: an absent rating revokes')
    feedback, history = _rated(app, message)
    expect(
        feedback is None, f"history shows feedback {feedback!r} after a feedback without rating", ex, history
    )


@check("feedback.invalid_rating", "a rating other than like/dislike/null is 400 invalid_param")
def test_invalid_rating(app: ChatApp, message: tuple[str, str, str]) -> None:
    expect_error(app.feedback(message[0], message[2], "love"), RATE, 400, "invalid_param")


@check("feedback.unknown_message", "rating an unknown message is 404 not_found")
def test_unknown_message(app: ChatApp, message: tuple[str, str, str]) -> None:
    expect_error(app.feedback(message[0], random_id(), "like"), RATE, 404, "not_found")


def _app_feedbacks(client: Any, *message_ids: str) -> tuple[Exchange, list[dict[str, Any]]]:
    """The app's feedbacks on `message_ids`, as listed (newest first: fresh ones are on the first pages)."""
    op = contract.operation_or_skip("listAppFeedbacks")
    found: list[dict[str, Any]] = []
    ex: Exchange | None = None
    for page in range(1, 4):
        ex = client.call("GET", "/app/feedbacks", params={"page": page, "limit": 101})
        expect_status(ex, 200)
        data = expect_json_body(ex, op)["data"]
        found += [f for f in data if f.get("message_id") in message_ids]
        if len(data) < 101:
            break
    assert ex is not None  # the first page was asked for
    return ex, found


@check(
    "feedback.app_list",
    "the app's feedback list shows a user's rating and content, and drops it when revoked",
    cause=RATINGS_NOT_KEPT,
    contract=(
        "listAppFeedbacks: every end user's feedback on the app's messages, newest first; a revoked "
        "rating leaves the list"
    ),
)
def test_app_list(app: ChatApp, run: Run) -> None:
    contract.operation_or_skip("listAppFeedbacks")
    user = run.user("app-feedback")
    answer = app.send_ok(user, "Which movie is the best?")
    rated = app.feedback(user, answer["id"], "dislike", content="conformance: too short")
    expect_status(rated, 200, expected='200 {"result": "success"}')
    listed, found = _app_feedbacks(app.client, answer["id"])
    expect(found, "a rated message is missing from the app's feedbacks", rated, listed)
    expect(
        (found[0].get("rating"), found[0].get("content")) == ("dislike", "conformance: too short"),
        f"listed as {found[0].get('rating')!r} / {found[0].get('content')!r}, rated dislike with content",
        rated,
        listed,
    )
    expect(
        found[0].get("conversation_id") == answer["conversation_id"],
        "the feedback names another conversation",
        listed,
    )
    revoked = app.feedback(user, answer["id"], None)
    expect_status(revoked, 200, expected='200 {"result": "success"}')
    after, still = _app_feedbacks(app.client, answer["id"])
    expect(not still, "a revoked rating is still in the app's feedbacks", revoked, after)


@check(
    "feedback.app_order",
    "the app's feedback list is newest first",
    cause=RATINGS_NOT_KEPT,
    contract="listAppFeedbacks: newest first (the time of the rating)",
)
def test_app_order(app: ChatApp, run: Run) -> None:
    contract.operation_or_skip("listAppFeedbacks")
    user = run.user("app-feedback-order")
    first = app.send_ok(user, "Which movie is the best?")
    second = app.send_ok(user, "Is Die Hard a Christmas movie?", first["conversation_id"])
    try:
        for message in (first, second):
            rated = app.feedback(user, message["id"], "like")
            expect_status(rated, 200, expected='200 {"result": "success"}')
        listed, found = _app_feedbacks(app.client, first["id"], second["id"])
        order = [f.get("message_id") for f in found]
        expect(
            order == [second["id"], first["id"]],
            f"the later rating ({second['id']}) should come first; listed {order}",
            listed,
        )
    finally:
        for message in (first, second):
            app.feedback(user, message["id"], None)  # leave the app's list as it was
