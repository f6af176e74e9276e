"""history: GET /messages paged with first_id, walked with small limits against the messages we sent.

The run creates one conversation with a known sequence of messages, so the judge knows exactly
what every page must hold: the newest `limit` first, ascending inside a page, `first_id = data[0].id`
for the older page, `has_more` exactly while older messages exist.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from conformance.causes import HISTORY_PAGES
from conformance.chatapp import ChatApp, Walk, expect_page_sizes, ignored_cursor, random_id, walk_history
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.contract import operation
from conformance.run import Run

LIST = operation("listMessages")
MESSAGES = 5
LIMITS = [1, 2, 3]
QUERIES = [
    "Which movie is the best?",
    "Can you explain why?",
    "Who plays the hero?",
    "When was it released?",
    "Is there a sequel?",
    "Thanks!",
]


@pytest.fixture(scope="module")
def conversation(app: ChatApp, run: Run) -> tuple[str, str, list[str]]:
    """(user, conversation id, message ids oldest first) of a fresh conversation."""
    run.spend(MESSAGES, "the history conversation")
    user = run.user("history")
    first = app.send_ok(user, QUERIES[0])
    ids = [first["id"]]
    for query in QUERIES[1:MESSAGES]:
        ids.append(app.send_ok(user, query, first["conversation_id"])["id"])
    return user, first["conversation_id"], ids


@pytest.fixture(scope="module")
def walks(app: ChatApp, conversation: tuple[str, str, list[str]]) -> Callable[[int], Walk]:
    cache: dict[int, Walk] = {}
    user, conversation_id, ids = conversation

    def get(limit: int) -> Walk:
        if limit not in cache:
            cache[limit] = walk_history(app, user, conversation_id, limit, max_pages=len(ids) // limit + 3)
        return cache[limit]

    return get


def _pages_expected(ids: list[str], limit: int) -> list[list[str]]:
    """The pages the contract prescribes: newest `limit` first, each ascending."""
    pages, end = [], len(ids)
    while end > 0:
        pages.append(ids[max(0, end - limit) : end])
        end -= limit
    return pages or [[]]


def _ids(page: dict[str, Any]) -> list[str]:
    return [m.get("id") for m in page.get("data", [])]


@check(
    "history.no_duplicates",
    "walking every page never repeats a message",
    cause=HISTORY_PAGES,
    contract=(
        "listMessages: the next page holds the `limit` messages strictly older than `first_id` "
        "(`first_id` itself is not repeated); walking every page yields every message exactly once"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_no_duplicates(walks: Callable[[int], Walk], limit: int) -> None:
    walk = walks(limit)
    seen: set[str] = set()
    for page, ex in zip(walk.pages, walk.exchanges, strict=True):
        for mid in _ids(page):
            expect(mid not in seen, f"message {mid} appears twice (limit={limit})", ex)
            seen.add(mid)
    if walk.stopped:
        fail(f"the walk did not end: {walk.stopped} (limit={limit})", walk.last())


@check(
    "history.complete",
    "walking every page yields every message of the conversation",
    cause=HISTORY_PAGES,
    contract=(
        "listMessages: walking every page (first_id = data[0].id) yields every message of the "
        "conversation exactly once"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_complete(walks: Callable[[int], Walk], conversation: tuple[str, str, list[str]], limit: int) -> None:
    walk = walks(limit)
    got = {m.get("id") for m in walk.items()}
    missing = [i for i in conversation[2] if i not in got]
    expect(
        not missing,
        f"{len(missing)} of {len(conversation[2])} messages never appeared (limit={limit}): {missing[:3]}",
        *walk.exchanges[:3],
        expected="every message exactly once across the pages",
    )
    extra = got - set(conversation[2])
    expect(
        not extra,
        f"messages that were never sent in this conversation appeared: {sorted(extra, key=str)[:3]}",
        walk.last(),
    )


@check(
    "history.order",
    "first page = newest messages; ascending inside a page; older pages follow",
    cause=HISTORY_PAGES,
    contract=(
        "listMessages: the first page holds the newest `limit` messages, ascending `created_at` "
        "inside a page; the next page holds the messages immediately older than `first_id`"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_order(walks: Callable[[int], Walk], conversation: tuple[str, str, list[str]], limit: int) -> None:
    walk = walks(limit)
    wanted = _pages_expected(conversation[2], limit)
    for n, (page, ex) in enumerate(zip(walk.pages, walk.exchanges, strict=True)):
        if n >= len(wanted):
            fail(f"page {n + 1} exists but the conversation fills only {len(wanted)} (limit={limit})", ex)
        got = _ids(page)
        if got != wanted[n]:
            fail(
                f"page {n + 1} (limit={limit}) holds {got}, wanted {wanted[n]}",
                ex,
                expected="the newest `limit` messages first, ascending created_at inside a page, "
                "next page strictly older than data[0]",
            )
        created = [m.get("created_at", 0) for m in page.get("data", [])]
        expect(created == sorted(created), f"created_at not ascending inside page {n + 1}: {created}", ex)


@check(
    "history.has_more",
    "has_more is true exactly while older messages exist",
    cause=HISTORY_PAGES,
    contract="listMessages: `has_more` is true exactly when messages older than `data[0]` exist",
)
@pytest.mark.parametrize("limit", LIMITS)
def test_has_more(walks: Callable[[int], Walk], conversation: tuple[str, str, list[str]], limit: int) -> None:
    walk = walks(limit)
    ids = conversation[2]
    for page, ex in zip(walk.pages, walk.exchanges, strict=True):
        data = _ids(page)
        older = bool(data) and data[0] in ids and ids.index(data[0]) > 0
        if page.get("has_more") != older:
            fail(
                f"has_more is {page.get('has_more')} but "
                f"{'older messages exist' if older else 'nothing is older'}"
                f" (limit={limit})",
                ex,
            )
    if walk.stopped:
        fail(f"{walk.stopped}: has_more never became false", walk.last())


@check(
    "history.page_size",
    "a page holds at most `limit` messages (exactly `limit` while more exist)",
    cause=HISTORY_PAGES,
    contract=(
        "listMessages: a page holds the `limit` newest (or next older) messages; `limit` in the "
        "response echoes the limit applied"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_page_size(walks: Callable[[int], Walk], limit: int) -> None:
    expect_page_sizes(walks(limit), limit, "messages")


@check(
    "history.limit_bounds",
    "limit 1 and 100 work; 0 and 101 are 400 invalid_param (not clamped)",
    cause=HISTORY_PAGES,
    contract=(
        "listMessages: `limit` outside 1..100 is 400 `invalid_param` (not clamped); inside it, the "
        "first page holds the newest `limit` messages"
    ),
)
@pytest.mark.parametrize("limit", LIST.boundary_values("limit"))
def test_limit_bounds(app: ChatApp, conversation: tuple[str, str, list[str]], limit: int) -> None:
    user, conversation_id, ids = conversation
    ex = app.messages(user, conversation_id, limit=limit)
    low, _, _, high = LIST.boundary_values("limit")
    if limit in (low, high):
        expect_error(ex, LIST, 400, "invalid_param")
        return
    expect_status(ex, 200)
    page = expect_json_body(ex, LIST)
    wanted = ids[-limit:]
    expect(_ids(page) == wanted, f"limit={limit} gave {_ids(page)}, wanted {wanted}", ex)


@check("history.unknown_first_id", "an unknown first_id is 404 not_found")
def test_unknown_first_id(app: ChatApp, conversation: tuple[str, str, list[str]]) -> None:
    user, conversation_id, _ = conversation
    ex = app.messages(user, conversation_id, first_id=random_id(), limit=2)
    expect_error(ex, LIST, 404, "not_found", cause=ignored_cursor(ex, LIST, "first_id"))


@check("history.unknown_conversation", "history of an unknown conversation is 404 not_found")
def test_unknown_conversation(app: ChatApp, run: Run) -> None:
    expect_error(app.messages(run.user("history"), random_id()), LIST, 404, "not_found")


# What real servers answer to `GET /messages` without `user` (SPEC_NOTES S9): 2023 servers an empty
# page, today's the app's default end user's view (who does not own the run's conversation: 404); a
# server that requires `user` refuses it (400). Each is a legal answer; none may show this run's messages.
MISSING_USER_REFUSALS = {400: "invalid_param", 404: "not_found"}


@check(
    "history.missing_user",
    "history without user: an empty page, 404 or 400 (error envelope), never another user's messages",
    contract=(
        "listMessages without `user`: the app's default end user's view (today), an empty page "
        "(2023 servers) or 400 `invalid_param` where `user` is required; never a 5xx and never the "
        "messages of the user who owns the conversation"
    ),
)
def test_missing_user(app: ChatApp, conversation: tuple[str, str, list[str]]) -> None:
    ex = app.client.call("GET", "/messages", params={"conversation_id": conversation[1]})
    if ex.status in MISSING_USER_REFUSALS:
        expect_error(ex, LIST, ex.status, MISSING_USER_REFUSALS[ex.status])
        return
    expect_status(ex, [200, *MISSING_USER_REFUSALS], expected="200 (a page), or 404 / 400 (error envelope)")
    page = expect_json_body(ex, LIST)
    leaked = [m.get("id") for m in page["data"] if isinstance(m, dict) and m.get("id") in conversation[2]]
    expect(
        not leaked,
        f"without `user` the answer shows {len(leaked)} message(s) of the user who owns the conversation",
        ex,
        expected="no user, or the default end user, sees no other user's messages",
    )


@check(
    "history.empty_conversation_id",
    'today: conversation_id "" is an empty page (200, no messages); 2023: 400 invalid_param',
    contract=(
        'listMessages: today `conversation_id` "" names no conversation and answers an empty page; '
        "in the 2023 era it must be a UUID"
    ),
)
def test_empty_conversation_id(app: ChatApp, conversation: tuple[str, str, list[str]]) -> None:
    ex = app.messages(conversation[0], "")
    if not LIST.accepts_parameter("conversation_id", ""):
        expect_error(ex, LIST, 400, "invalid_param")
        return
    expect_status(ex, 200)
    page = expect_json_body(ex, LIST)
    expect(
        page["data"] == [] and page["has_more"] is False, f"an empty id gave {len(page['data'])} messages", ex
    )
