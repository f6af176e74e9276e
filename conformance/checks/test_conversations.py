"""conversations: GET /conversations paged with last_id, walked with small limits.

The run's fresh user owns exactly the conversations it created, so every walk must return exactly
those, once each, in the order the run itself made them: the run creates COUNT conversations one
after another, then continues one of the earlier ones, and the most recently active comes first.
Order is never inferred from the answered times or ids (whole seconds tie; ids are random).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conformance import contract
from conformance.causes import CONVERSATION_PAGES
from conformance.chatapp import (
    ChatApp,
    Walk,
    expect_page_sizes,
    ignored_cursor,
    random_id,
    walk_conversations,
)
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.contract import operation
from conformance.run import Run

LIST = operation("listConversations")
COUNT = 5
CONTINUED = 1  # the conversation continued after all were created: most recently active
LIMITS = [1, 2, 3]


@pytest.fixture(scope="module")
def owned(app: ChatApp, run: Run) -> tuple[str, list[str]]:
    """(user, conversation ids in creation order) for a fresh user; CONTINUED is continued last."""
    run.spend(COUNT + 1, "the conversations to page through")
    user = run.user("convs")
    ids = [app.send_ok(user, f"Conversation number {n}?")["conversation_id"] for n in range(COUNT)]
    app.send_ok(user, "And one more thing?", ids[CONTINUED])
    return user, ids


def by_activity(created: list[str]) -> list[str]:
    """The run's conversations least recently active first (created in order, then CONTINUED again)."""
    return [c for c in created if c != created[CONTINUED]] + [created[CONTINUED]]


def default_orders(created: list[str]) -> list[list[str]]:
    """The orders the era's default may give: most recently active first (today's `-updated_at`);
    the 2023 era (no `sort_by`) also allows newest created first, as 2023 servers listed."""
    orders = [list(reversed(by_activity(created)))]
    if LIST.parameter("sort_by") is None:
        orders.append(list(reversed(created)))
    return orders


@pytest.fixture(scope="module")
def walks(app: ChatApp, owned: tuple[str, list[str]]) -> Callable[[int], Walk]:
    cache: dict[int, Walk] = {}

    def get(limit: int) -> Walk:
        if limit not in cache:
            cache[limit] = walk_conversations(app, owned[0], limit, max_pages=COUNT // limit + 3)
        return cache[limit]

    return get


@check(
    "conversations.no_duplicates",
    "walking every page never repeats a conversation",
    cause=CONVERSATION_PAGES,
    contract=(
        "listConversations: the next page holds the conversations strictly after `last_id` "
        "(`last_id` itself is not repeated); walking every page yields every conversation exactly "
        "once"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_no_duplicates(walks: Callable[[int], Walk], limit: int) -> None:
    walk = walks(limit)
    seen: set[str] = set()
    for page, ex in zip(walk.pages, walk.exchanges, strict=True):
        for c in page.get("data", []):
            expect(c.get("id") not in seen, f"conversation {c.get('id')} appears twice (limit={limit})", ex)
            seen.add(c.get("id"))
    if walk.stopped:
        fail(f"the walk did not end: {walk.stopped} (limit={limit})", walk.last())


@check(
    "conversations.complete",
    "walking every page yields exactly the user's conversations",
    cause=CONVERSATION_PAGES,
    contract=(
        "listConversations: walking every page yields every conversation of the calling user "
        "exactly once; other users' conversations never appear"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_complete(walks: Callable[[int], Walk], owned: tuple[str, list[str]], limit: int) -> None:
    walk = walks(limit)
    got = {c.get("id") for c in walk.items()}
    missing = [i for i in owned[1] if i not in got]
    expect(
        not missing,
        f"{len(missing)} of {COUNT} conversations never appeared (limit={limit})",
        *walk.exchanges[:3],
        expected="every conversation exactly once across the pages",
    )
    extra = got - set(owned[1])
    shown = sorted(extra, key=str)[:3]
    expect(not extra, f"conversations this user never created appeared: {shown}", walk.last())


@check(
    "conversations.order",
    "most recently active first, across pages, even within one second",
    cause=CONVERSATION_PAGES,
    contract=(
        "listConversations: most recently active first (descending `updated_at`; a new message "
        "bumps it); servers order by sub-second times, so conversations of the same second keep "
        "the order of events"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_order(walks: Callable[[int], Walk], owned: tuple[str, list[str]], limit: int) -> None:
    walk = walks(limit)
    got = [c.get("id") for c in walk.items()]
    orders = default_orders(owned[1])
    if got not in orders and set(got) == set(orders[0]):
        fail(
            f"the conversations are not most recently active first (limit={limit}): got "
            f"{[orders[0].index(str(i)) for i in got]}, wanted {list(range(len(got)))} (0 = the one "
            f"continued last, then newest created first)",
            *walk.exchanges[:3],
            expected="descending updated_at at sub-second precision (the order in which the run "
            "created and continued them)",
        )


@check(
    "conversations.sort_by",
    "today: sort_by orders the list (created_at ascending, -created_at descending)",
    contract=(
        "listConversations (current era): `sort_by` in created_at, -created_at, updated_at, "
        "-updated_at (default -updated_at)"
    ),
)
@pytest.mark.parametrize("sort_by", ["created_at", "-created_at", "updated_at", "-updated_at"])
def test_sort_by(app: ChatApp, owned: tuple[str, list[str]], sort_by: str) -> None:
    if LIST.parameter("sort_by") is None:
        pytest.skip(f"the {contract.era()} era has no sort_by")
    ex = app.conversations(owned[0], limit=COUNT, sort_by=sort_by)
    expect_status(ex, 200)
    got = [c.get("id") for c in expect_json_body(ex, LIST)["data"]]
    ascending = owned[1] if sort_by.lstrip("-") == "created_at" else by_activity(owned[1])
    wanted = list(reversed(ascending)) if sort_by.startswith("-") else list(ascending)
    expect(
        got == wanted,
        f"sort_by={sort_by} gave positions {[ascending.index(i) if i in ascending else i for i in got]} "
        f"(0 = {'created first' if sort_by.endswith('created_at') else 'least recently active'})",
        ex,
        expected=f"the user's conversations in {sort_by} order",
    )


@check(
    "conversations.has_more",
    "has_more is true exactly while more conversations follow",
    cause=CONVERSATION_PAGES,
    contract="listConversations: `has_more` is true exactly when conversations after `data[-1]` exist",
)
@pytest.mark.parametrize("limit", LIMITS)
def test_has_more(walks: Callable[[int], Walk], limit: int) -> None:
    walk = walks(limit)
    seen = 0
    for page, ex in zip(walk.pages, walk.exchanges, strict=True):
        seen += len(page.get("data", []))
        more = seen < COUNT
        if page.get("has_more") != more:
            fail(
                f"has_more is {page.get('has_more')} after {seen} of {COUNT} conversations (limit={limit})",
                ex,
            )
    if walk.stopped:
        fail(f"{walk.stopped}: has_more never became false", walk.last())


@check(
    "conversations.page_size",
    "a page holds at most `limit` conversations (exactly `limit` while more exist)",
    cause=CONVERSATION_PAGES,
    contract=(
        "listConversations: a page holds the first `limit` conversations (after `last_id`); `limit`"
        " in the response echoes the limit applied"
    ),
)
@pytest.mark.parametrize("limit", LIMITS)
def test_page_size(walks: Callable[[int], Walk], limit: int) -> None:
    expect_page_sizes(walks(limit), limit, "conversations")


@check(
    "conversations.limit_bounds",
    "limit 1 and 100 work; 0 and 101 are 400 invalid_param",
    cause=CONVERSATION_PAGES,
    contract="listConversations: `limit` outside 1..100 is 400 `invalid_param` (not clamped)",
)
@pytest.mark.parametrize("limit", LIST.boundary_values("limit"))
def test_limit_bounds(app: ChatApp, owned: tuple[str, list[str]], limit: int) -> None:
    ex = app.conversations(owned[0], limit=limit)
    low, _, _, high = LIST.boundary_values("limit")
    if limit in (low, high):
        expect_error(ex, LIST, 400, "invalid_param")
        return
    expect_status(ex, 200)
    page = expect_json_body(ex, LIST)
    expect(
        len(page["data"]) == min(limit, COUNT), f"limit={limit} gave {len(page['data'])} conversations", ex
    )


@check("conversations.unknown_last_id", "an unknown last_id is 404 not_found")
def test_unknown_last_id(app: ChatApp, owned: tuple[str, list[str]]) -> None:
    ex = app.conversations(owned[0], last_id=random_id())
    expect_error(ex, LIST, 404, "not_found", cause=ignored_cursor(ex, LIST, "last_id"))


@check(
    "conversations.fields",
    "each conversation carries its inputs, status and a name",
    contract=(
        "listConversations: each conversation matches the contract's Conversation schema (`inputs`,"
        " `status`, `name`)"
    ),
)
def test_fields(app: ChatApp, owned: tuple[str, list[str]]) -> None:
    ex = app.conversations(owned[0], limit=COUNT)
    expect_status(ex, 200)
    page = expect_json_body(ex, LIST)
    for c in page["data"]:
        expect(isinstance(c.get("name"), str), f"conversation {c.get('id')} has no name", ex)
