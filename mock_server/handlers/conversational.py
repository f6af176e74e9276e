"""The Hugging Face conversational task, answered through payload_conversions and the shared engine."""

from __future__ import annotations

from flask import Response

from mock_server.errors import ApiError
from mock_server.handlers.base import Call, json_response
from mock_server.handlers.completions import completion_for


def conversational(call: Call) -> Response:
    from payload_conversions import (
        ConversionError,
        chat_completion_to_conversational,
        conversational_to_chat_messages,
    )

    body = call.body
    params = body.get("parameters") or {}
    if "min_length" in params and "max_length" in params and params["max_length"] < params["min_length"]:
        raise ApiError(
            400, "parameters.max_length: must be >= min_length", param="parameters.max_length", as_list=True
        )
    model = f"{call.v.params['owner']}/{call.v.params['model']}"
    try:
        messages = conversational_to_chat_messages(body["inputs"])
        completion, _ = completion_for(call.state.engine, model, messages)
        answer = chat_completion_to_conversational(body["inputs"], completion)
    except ConversionError as exc:
        raise ApiError(400, str(exc), param=exc.field, as_list=True) from exc
    return json_response(answer)


CONVERSATIONAL_HANDLERS = {"conversational": conversational}
