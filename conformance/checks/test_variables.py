"""variables: a conversation's variables, listed (paged, filtered by name) and updated by type.

Real servers keep conversation variables for apps whose workflow declares them (advanced-chat); a
chat app's list is empty, which is legal: the checks that need a variable are then skipped with the
reason. What value each type takes is the contract's `x-value-schemas` (ConversationVariableUpdate).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.chatapp import ChatApp, random_id
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.contract import operation_or_skip, resolve, validator
from conformance.http import Client, Exchange
from conformance.run import Run

# A value of each type the suite can write, to set a variable and to send the wrong type.
SAMPLES: dict[str, Any] = {
    "string": "conformance",
    "number": 7,
    "boolean": True,
    "object": {"set_by": "conformance"},
    "array": ["conformance"],
}


@pytest.fixture(scope="module")
def owned(app: ChatApp, run: Run) -> dict[str, Any]:
    operation_or_skip("listConversationVariables")
    user = run.user("variables")
    answer = app.send_ok(user, "Which movie is the best?")
    return {"user": user, "conversation_id": answer["conversation_id"]}


def listing(client: Client, owned: dict[str, Any], **params: Any) -> Exchange:
    return client.call(
        "GET",
        f"/conversations/{owned['conversation_id']}/variables",
        params={"user": owned["user"], **params},
    )


def _all_variables(client: Client, owned: dict[str, Any]) -> tuple[Exchange, list[dict[str, Any]]]:
    ex = listing(client, owned, limit=100)
    expect_status(ex, 200)
    return ex, expect_json_body(ex, operation_or_skip("listConversationVariables"))["data"]


def _some_variables(client: Client, owned: dict[str, Any], least: int = 1) -> list[dict[str, Any]]:
    _, data = _all_variables(client, owned)
    if len(data) < least:
        pytest.skip(f"the app declares {len(data)} conversation variable(s); this check needs {least}")
    return data


def value_schemas() -> dict[str, Any]:
    schema = resolve({"$ref": "#/components/schemas/ConversationVariableUpdate"})
    return resolve(schema["properties"]["value"]).get("x-value-schemas") or {}


def fits(value: Any, value_type: str) -> bool | None:
    schema = value_schemas().get(value_type)
    return None if schema is None else validator(schema).is_valid(value)


@check(
    "variables.list",
    "a conversation's variables: 200, every page within its limit, walked once each with last_id",
    contract=(
        "listConversationVariables: {limit, has_more, data}; `last_id` = the last variable of a page "
        "continues after it; has_more true while more follow"
    ),
)
def test_list(client: Client, owned: dict[str, Any]) -> None:
    op = operation_or_skip("listConversationVariables")
    first, everything = _all_variables(client, owned)
    expected = [v["id"] for v in everything]
    seen: list[str] = []
    last_id = ""
    for _ in range(len(expected) + 1):
        ex = listing(client, owned, limit=1, last_id=last_id)
        expect_status(ex, 200)
        page = expect_json_body(ex, op)
        expect(page["limit"] == 1, f"limit echoed as {page['limit']!r}, wanted 1", ex)
        expect(len(page["data"]) <= 1, f"{len(page['data'])} variables on a page with limit=1", ex)
        seen += [v["id"] for v in page["data"]]
        if not page["has_more"]:
            break
        expect(page["data"], "has_more is true on an empty page", ex)
        last_id = page["data"][-1]["id"]
    expect(seen == expected, f"walking with limit=1 gave {seen}, the whole list is {expected}", first, ex)


@check(
    "variables.name_filter",
    "variable_name keeps the variables whose name contains it",
    contract="listConversationVariables: `variable_name` keeps the variables whose name contains it",
)
def test_name_filter(client: Client, owned: dict[str, Any]) -> None:
    op = operation_or_skip("listConversationVariables")
    data = _some_variables(client, owned, 2)
    name = data[0]["name"]
    ex = listing(client, owned, variable_name=name, limit=100)
    expect_status(ex, 200)
    names = [v["name"] for v in expect_json_body(ex, op)["data"]]
    expect(name in names, f"the variable {name!r} is missing when filtering by its own name", ex)
    stray = [n for n in names if name.lower() not in n.lower()]
    expect(not stray, f"filtering by {name!r} also answered {stray}", ex)


def _put(client: Client, owned: dict[str, Any], variable_id: str, value: Any) -> Exchange:
    return client.call(
        "PUT",
        f"/conversations/{owned['conversation_id']}/variables/{variable_id}",
        json_body={"value": value, "user": owned["user"]},
    )


def _writable(data: list[dict[str, Any]]) -> tuple[dict[str, Any], Any]:
    """A variable of a type the suite can write, with a value of that type (strings first)."""
    ranked = sorted(data, key=lambda v: v.get("value_type") != "string")
    for variable in ranked:
        for sample in SAMPLES.values():
            if fits(sample, str(variable.get("value_type"))):
                return variable, sample
    pytest.skip("no variable of a type the contract's x-value-schemas lets the suite write")


@check(
    "variables.update",
    "a value of the variable's type is stored and answered",
    contract=(
        "updateConversationVariable: a value of the variable's `value_type` answers the variable; "
        "the list shows the new value"
    ),
)
def test_update(client: Client, owned: dict[str, Any]) -> None:
    op = operation_or_skip("updateConversationVariable")
    variable, value = _writable(_some_variables(client, owned))
    ex = _put(client, owned, variable["id"], value)
    expect_status(ex, 200)
    body = expect_json_body(ex, op)
    expect(body["id"] == variable["id"], f"answered variable {body['id']!r}, updated {variable['id']!r}", ex)
    after, data = _all_variables(client, owned)
    stored = next((v for v in data if v["id"] == variable["id"]), None)
    if stored is None:
        fail("the updated variable is gone from the list", ex, after)
    if isinstance(value, str):  # other types come back as text whose spelling servers differ on
        expect(
            stored["value"] == value,
            f"the list shows {stored['value']!r}, it was set to {value!r}",
            ex,
            after,
        )


@check(
    "variables.type_mismatch",
    "a value of another type than the variable's is refused (400 bad_request) and not stored",
    contract=(
        "updateConversationVariable: a value that is not of the variable's `value_type` is 400 `bad_request`"
    ),
)
def test_type_mismatch(client: Client, owned: dict[str, Any]) -> None:
    op = operation_or_skip("updateConversationVariable")
    data = _some_variables(client, owned)
    for variable in data:
        wrong = next((s for s in SAMPLES.values() if fits(s, str(variable.get("value_type"))) is False), None)
        if wrong is not None:
            break
    else:
        pytest.skip("no variable whose type the contract's x-value-schemas can tell a wrong value for")
    ex = _put(client, owned, variable["id"], wrong)
    expect_error(ex, op, 400, "bad_request")
    after, data = _all_variables(client, owned)
    stored = next((v for v in data if v["id"] == variable["id"]), {})
    expect(stored.get("value") == variable.get("value"), "the refused value was stored", ex, after)


@check(
    "variables.unknown",
    "an unknown conversation or variable: 404",
    contract=(
        "listConversationVariables / updateConversationVariable: an unknown conversation is 404 "
        '"Conversation Not Exists."; an unknown variable 404 "Conversation Variable Not Exists."'
    ),
)
def test_unknown(client: Client, owned: dict[str, Any]) -> None:
    listing_op = operation_or_skip("listConversationVariables")
    update_op = operation_or_skip("updateConversationVariable")
    ex = client.call("GET", f"/conversations/{random_id()}/variables", params={"user": owned["user"]})
    expect_error(ex, listing_op, 404, "not_found")
    expect_error(_put(client, owned, random_id(), "conformance"), update_op, 404, "not_found")
