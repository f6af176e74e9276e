"""Errors and the three surfaces' error envelopes (picked by the operation's tag)."""

from __future__ import annotations

from typing import Any

from flask import Response

from mock_server import jsoncodec
from mock_server.limits import MAX_MESSAGE_CHARS, clip

CHAT_APP, CONVERSATIONAL, COMPLETIONS = "chat-app", "conversational", "chat-completions"

# Chat App code for each HTTP status the mock produces on its own.
_DEFAULT_CODES = {
    400: "invalid_param",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "request_entity_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
    429: "too_many_requests",
    500: "internal_server_error",
    503: "service_unavailable",
}
# OpenAI `code` for statuses where OpenAI sets one.
_OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 404: "not_found"}


class ApiError(Exception):
    """An error answer; rendered in the envelope of the surface that raised it."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        as_list: bool = False,
    ) -> None:
        message = clip(message, MAX_MESSAGE_CHARS)  # never a client's 10 MB value echoed whole
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, "error")
        self.param = param
        self.headers = headers or {}
        self.extra = extra or {}
        self.as_list = as_list  # HF validation errors are a list of strings


def envelope(surface: str, err: ApiError) -> dict[str, Any]:
    """The JSON body of `err` in `surface`'s envelope."""
    if surface == CONVERSATIONAL:
        body: dict[str, Any] = {"error": [err.message] if err.as_list else err.message}
        body.update(err.extra)
        return body
    if surface == COMPLETIONS:
        if err.status == 429:
            kind = "requests"
        elif err.status >= 500:
            kind = "server_error"
        else:
            kind = "invalid_request_error"
        code = err.extra.get("openai_code", _OPENAI_CODES.get(err.status))
        return {"error": {"message": err.message, "type": kind, "param": err.param, "code": code}}
    body = {"code": err.code, "message": err.message, "status": err.status}
    body.update({k: v for k, v in err.extra.items() if k != "openai_code"})
    return body


def error_response(surface: str, err: ApiError) -> Response:
    resp = Response(jsoncodec.dumps(envelope(surface, err)), status=err.status, mimetype="application/json")
    for name, value in err.headers.items():
        resp.headers[name] = value
    return resp


def surface_for_path(path: str) -> str:
    """The surface a URL belongs to, for answers that have no operation (404, 405)."""
    if path.startswith("/models/"):
        return CONVERSATIONAL
    if path.startswith("/v1/chat/") or path == "/v1/chat":
        return COMPLETIONS
    return CHAT_APP
