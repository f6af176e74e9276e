"""What the app tells its clients about itself: parameters (each key's app has its own)."""

from __future__ import annotations

from flask import Response

from mock_server.handlers.base import Call, json_response


def get_parameters(call: Call) -> Response:
    return json_response(call.app.parameters)


HANDLERS = {
    "getParameters": get_parameters,
}
