"""Handlers by operationId; the app refuses to start if the contract names one that is missing here."""

# No `from __future__ import annotations` here: it would bind the name `annotations`, which is the
# handlers module of that resource below.
from collections.abc import Callable, Mapping
from typing import Any

from flask import Response

from mock_server.handlers import (
    annotations,
    app_info,
    audio,
    chat,
    conversations,
    end_users,
    feedback,
    files,
    messages,
    variables,
)
from mock_server.handlers.base import Call
from mock_server.handlers.completions import COMPLETION_HANDLERS
from mock_server.handlers.conversational import CONVERSATIONAL_HANDLERS

# The Chat App API: one module per resource, each exporting its HANDLERS by operationId.
CHAT_APP_MODULES = (
    chat,
    messages,
    feedback,
    conversations,
    variables,
    audio,
    files,
    app_info,
    end_users,
    annotations,
)


def _merge(*tables: Mapping[str, Callable[[Call], Response]]) -> dict[str, Callable[[Call], Response]]:
    """One table; an operationId claimed by two modules is a programming error, caught at import."""
    merged: dict[str, Callable[[Call], Response]] = {}
    for table in tables:
        clash = merged.keys() & table.keys()
        if clash:
            raise RuntimeError(f"operations handled twice: {', '.join(sorted(clash))}")
        merged.update(table)
    return merged


HANDLERS: dict[str, Callable[[Call], Response]] = _merge(
    *({op: end_users.with_end_user(fn) for op, fn in module.HANDLERS.items()} for module in CHAT_APP_MODULES),
    CONVERSATIONAL_HANDLERS,
    COMPLETION_HANDLERS,
)

# Whether a validated request body asks for a streamed (text/event-stream) answer, per operation;
# operations not listed never stream. Stream fault directives are refused on other requests.
STREAMS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "sendChatMessage": lambda body: body.get("response_mode", "blocking") == "streaming",
    "createChatCompletion": lambda body: bool(body.get("stream")),
}

# Contract violations that a real server reports with its own error code: (operationId, field).
# Dify reads the file part first, whatever the request's content type: no `file` part in a request
# to upload is 400 no_file_uploaded (R-cap chatflow/054-file_upload_missing_file.json), to
# audio-to-text Flask's KeyError, 400 bad_request_key_error (chatflow/061-audio_to_text_missing_file.json,
# chatflow-features-on/006-audio_to_text_missing_file_multipart.json).
_NO_AUDIO = (
    400,
    "bad_request_key_error",
    "The browser (or proxy) sent a request that this server could not understand.",
)
_NO_FILE = (400, "no_file_uploaded", "Please upload your file.")
VALIDATION_OVERRIDES: dict[tuple[str, str], tuple[int, str, str]] = {
    ("audioToText", "file"): _NO_AUDIO,
    ("audioToText", "body"): _NO_AUDIO,
    ("audioToText", "Content-Type"): _NO_AUDIO,
    ("uploadFile", "file"): _NO_FILE,
    ("uploadFile", "body"): _NO_FILE,
    ("uploadFile", "Content-Type"): _NO_FILE,
    # an action that is neither enable nor disable: Dify's route takes any string and refuses it with a
    # ValueError, 400 invalid_param (R-cap chatflow/075-annotation_reply_bad_action.json); its job
    # status is looked up under a key that names the action, which finds no job
    ("setAnnotationReply", "action"): (400, "invalid_param", "Unsupported annotation reply action"),
    ("getAnnotationReplyStatus", "action"): (400, "invalid_param", "The job does not exist."),
}

# Errors raised by the HTTP layer itself (e.g. a body over the hard size cap), per operation.
HTTP_ERROR_OVERRIDES: dict[tuple[str, int], tuple[str, str]] = {
    ("audioToText", 413): ("audio_too_large", "Audio size exceeded."),
    ("uploadFile", 413): ("file_too_large", "File size exceeded."),
}

__all__ = ["HANDLERS", "HTTP_ERROR_OVERRIDES", "STREAMS", "VALIDATION_OVERRIDES", "Call"]
