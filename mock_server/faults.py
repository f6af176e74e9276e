"""Faults on demand: parse the X-Mock-Fault header or an admin fault, and render error faults.

Header syntax: `;`-separated `name=value` directives, e.g.
`X-Mock-Fault: status=429;retry_after=7` or `X-Mock-Fault: disconnect_after=3`.
"""

from __future__ import annotations

import random
from typing import Any

from mock_server.errors import CHAT_APP, COMPLETIONS, CONVERSATIONAL, ApiError

INT_KEYS = {"status", "retry_after", "disconnect_after", "malformed_after", "stall_after", "error_after"}
FLOAT_KEYS = {"latency_ms", "stall_s", "estimated_time"}
KNOWN = INT_KEYS | FLOAT_KEYS
STREAM_KEYS = ("disconnect_after", "stall_after", "malformed_after", "error_after")  # streams only


def parse_fault(raw: str | dict[str, Any]) -> dict[str, Any]:
    """A validated fault dict; ValueError with a readable message otherwise."""
    if isinstance(raw, dict):
        items = list(raw.items())
    else:
        items = []
        for part in raw.replace(",", ";").split(";"):
            part = part.strip()
            if not part:
                continue
            name, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"fault directive '{part}' is not name=value")
            items.append((name.strip(), value.strip()))
    fault: dict[str, Any] = {}
    for name, value in items:
        if name not in KNOWN:
            raise ValueError(f"unknown fault directive '{name}' (known: {', '.join(sorted(KNOWN))})")
        try:
            fault[name] = int(value) if name in INT_KEYS else float(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"fault directive {name}={value!r} is not a number") from exc
        if fault[name] < 0:
            raise ValueError(f"fault directive {name} must be >= 0")
    if "status" in fault and not 400 <= fault["status"] <= 599:
        raise ValueError("fault status must be 400..599")
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


def fault_error(fault: dict[str, Any], surface: str, model: str | None = None) -> ApiError:
    """The error a `status=N` fault answers, in the surface's envelope, with its headers."""
    status = fault["status"]
    code, message = _MESSAGES.get((surface, status), ("", f"Injected fault: HTTP {status}"))
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if status in (429, 503):
        headers["Retry-After"] = str(int(fault.get("retry_after", 1)))
    if surface == CONVERSATIONAL and status == 503:
        message = f"Model {model or 'unknown'} is currently loading"
        extra["estimated_time"] = float(fault.get("estimated_time", 20.0))
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
