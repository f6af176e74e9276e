"""Faults on demand: parse the X-Mock-Fault header or an admin fault, and render error faults.

Header syntax: `;`-separated `name=value` directives, e.g.
`X-Mock-Fault: status=429;retry_after=7`, `X-Mock-Fault: disconnect_after=3` or
`X-Mock-Fault: code=provider_quota_exceeded` (the Dify error code; its status and message come from
the contract's `x-error-codes`, `status=` and `message=` override them).
"""

from __future__ import annotations

import random
import re
from typing import Any

from mock_server.errors import CHAT_APP, COMPLETIONS, CONVERSATIONAL, ApiError
from mock_server.limits import MAX_MESSAGE_CHARS, InputError, bounded, clip

INT_KEYS = {"status", "retry_after", "disconnect_after", "malformed_after", "stall_after", "error_after"}
FLOAT_KEYS = {"latency_ms", "stall_s", "estimated_time"}
STR_KEYS = {"code", "message"}
KNOWN = INT_KEYS | FLOAT_KEYS | STR_KEYS
# Directives are split at `;`, and at a `,` that starts a known directive (so a message may hold commas).
_SPLIT = re.compile(r";|,(?=\s*(?:" + "|".join(sorted(KNOWN)) + r")\s*=)")
STREAM_KEYS = ("disconnect_after", "stall_after", "malformed_after", "error_after")  # streams only


def parse_fault(raw: str | dict[str, Any], codes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A validated fault dict; ValueError with a readable message otherwise.

    `codes` is the contract's table of error codes (`x-error-codes`); `code=` must name one of them.
    Every number is finite and within limits.BOUNDS (a NaN delay would reach gevent's sleep and
    stop every timer of the worker; an unbounded one would hold a request for ever).
    """
    if isinstance(raw, dict):
        items = list(raw.items())
    else:
        items = []
        for part in _SPLIT.split(raw):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault directive '{clip(part)}' is not name=value")
            items.append((name.strip(), value.strip()))
    fault: dict[str, Any] = {}
    for name, value in items:
        if name not in KNOWN:
            known = ", ".join(sorted(KNOWN))
            raise ValueError(f"unknown fault directive '{clip(str(name))}' (known: {known})")
        if name in STR_KEYS:
            fault[name] = str(value).strip()
            if not fault[name]:
                raise ValueError(f"fault directive {name} is empty")
            if len(fault[name]) > MAX_MESSAGE_CHARS:
                raise ValueError(f"fault directive {name} is longer than {MAX_MESSAGE_CHARS} characters")
            continue
        try:
            fault[name] = bounded(name, value, integer=name in INT_KEYS)
        except InputError as exc:
            raise ValueError(f"fault directive {exc}") from exc
    if "code" in fault:
        table = codes or {}
        if fault["code"] not in table:
            known = ", ".join(sorted(table))
            raise ValueError(f"unknown fault code '{clip(fault['code'])}' (known: {known})")
        if not set(fault) & set(STREAM_KEYS):  # with a stream directive the code goes into the error event
            fault.setdefault("status", int(table[fault["code"]][0]))
    if "message" in fault and "status" not in fault and not set(fault) & set(STREAM_KEYS):
        raise ValueError("fault directive message needs status=, code= or a stream directive")
    return fault


_MESSAGES = {
    (CHAT_APP, 429): ("too_many_requests", "Too many requests. Please try again later."),
    (CHAT_APP, 500): ("internal_server_error", "The server encountered an internal error."),
    (CHAT_APP, 503): ("service_unavailable", "The service is temporarily unavailable."),
    (CONVERSATIONAL, 429): ("", "Rate limit reached. You reached free usage limit (reset hourly)."),
    (CONVERSATIONAL, 500): ("", "Internal server error"),
    (COMPLETIONS, 429): ("", "Rate limit reached"),
    (COMPLETIONS, 500): ("", "The server had an error while processing your request."),
    (COMPLETIONS, 503): ("", "The engine is currently overloaded, please try again later."),
}


def fault_error(
    fault: dict[str, Any], surface: str, model: str | None = None, codes: dict[str, Any] | None = None
) -> ApiError:
    """The error a `status=N` (or `code=C`) fault answers, in the surface's envelope, with its headers.

    A Chat App `code=` answers that code with the real server's message for it (`codes`, the
    contract's `x-error-codes`), unless `message=` gives one.
    """
    status = fault["status"]
    code, message = _MESSAGES.get((surface, status), ("", f"Injected fault: HTTP {status}"))
    if fault.get("code"):
        code = fault["code"]
        message = str((codes or {}).get(code, [status, message])[1])
    if fault.get("message"):
        message = fault["message"]
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if status in (429, 503):
        headers["Retry-After"] = str(int(fault.get("retry_after", 1)))
    if surface == CONVERSATIONAL and status == 503 and not fault.get("message"):
        message = f"Model {model or 'unknown'} is currently loading"
        extra["estimated_time"] = float(fault.get("estimated_time", 20.0))
    if surface == COMPLETIONS and fault.get("code"):
        extra["openai_code"] = fault["code"]
    return ApiError(status, message, code or None, headers=headers, extra=extra)


def pick_global(faults: list[dict[str, Any]], operation_id: str, rng: random.Random) -> dict[str, Any] | None:
    """The first stored fault that matches the operation and wins its probability draw."""
    for row in faults:
        if row["operation_id"] and row["operation_id"] != operation_id:
            continue
        if row["probability"] < 1.0 and rng.random() >= row["probability"]:
            continue
        return row
    return None
