"""Conversation variables: list (paged, filtered by name) and update (validated by the variable's type).

Each conversation has the variables its app declares (`conversation_variables` of the app's file in
fixtures/apps/: real servers keep them for advanced-chat apps, whose workflow declares them), made on
first use; an app that declares none answers an empty list. What an update may set is the JSON
Schema the contract gives for the variable's `value_type` (`x-value-schemas` of
ConversationVariableUpdate.value), read here, not re-typed.
"""

from __future__ import annotations

from typing import Any

import jsonschema
from flask import Response

from mock_server import store, variables_store
from mock_server.errors import ApiError
from mock_server.handlers.base import Call, json_response, not_found, user_of

VARIABLE_NOT_FOUND = "Conversation Variable Not Exists."


def _declared(call: Call) -> list[dict[str, Any]]:
    return list(call.app.raw.get("conversation_variables") or [])


def _conversation(call: Call) -> Any:
    """The caller's conversation (404 otherwise), its declared variables made if it has none yet."""
    conv_id = call.v.params["conversation_id"]
    conv = store.get_conversation(call.db, call.key, user_of(call), conv_id)
    if conv is None:
        raise not_found("Conversation Not Exists.")
    declared = _declared(call)
    if declared:
        with store.transaction(call.db):
            variables_store.ensure_variables(call.db, conv_id, conv["created_at"], declared)
    return conv


def list_variables(call: Call) -> Response:
    p = call.v.params
    conv = _conversation(call)
    page = variables_store.list_variables(
        call.db, conv["id"], p.get("last_id") or None, p["limit"], p.get("variable_name")
    )
    if page is None:
        raise not_found(VARIABLE_NOT_FOUND)
    data, has_more = page
    return json_response({"limit": p["limit"], "has_more": has_more, "data": data})


def value_schemas(call: Call) -> dict[str, Any]:
    """value_type -> JSON Schema of a value, from the contract."""
    schema = call.state.contract.resolve({"$ref": "#/components/schemas/ConversationVariableUpdate"})
    return schema["properties"]["value"].get("x-value-schemas") or {}


def type_of(value: Any, schemas: dict[str, Any]) -> str:
    """The first value type whose schema accepts `value` (how the error names what was sent)."""
    for name, schema in schemas.items():
        if jsonschema.Draft202012Validator(schema).is_valid(value):
            return name
    return "unknown"


def update_variable(call: Call) -> Response:
    conv = _conversation(call)
    row = variables_store.get_variable(call.db, conv["id"], call.v.params["variable_id"].lower())
    if row is None:
        raise not_found(VARIABLE_NOT_FOUND)
    value = call.body["value"]
    schemas = value_schemas(call)
    expected = schemas.get(row["value_type"])
    if expected is not None and not jsonschema.Draft202012Validator(expected).is_valid(value):
        raise ApiError(
            400,
            f"Type mismatch: variable '{row['name']}' expects {row['value_type']}, "
            f"but got {type_of(value, schemas)} type",
            "bad_request",
        )
    variables_store.set_value(call.db, row["id"], value)
    written = variables_store.get_variable(call.db, conv["id"], row["id"])
    assert written is not None  # the row just updated
    return json_response(variables_store.variable_row(written))


HANDLERS = {
    "listConversationVariables": list_variables,
    "updateConversationVariable": update_variable,
}
