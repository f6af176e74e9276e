"""Judging one answer under load with the suite's own code: conformance.checking and the contract.

Every request the load users make is valid and about their own data, so the contract's success
answer is expected. Two kinds of refusal are legal under load and only counted as errors: 429 and
503 (overload, with the error envelope). A 500, any other status, a body that breaks the contract's
schema, or a stream that does not end with its terminal event is a finding with the evidence.
"""

from __future__ import annotations

import json
from typing import Any

from conformance import contract
from conformance.checking import CheckFailed, expect_error, expect_json_body, expect_status
from conformance.checks.test_streaming import TERMINAL
from conformance.http import Exchange, StreamResult

OVERLOAD = (429, 503)
RESPONSES = "load.responses_valid"
STREAMS = "load.streams_complete"

Finding = dict[str, Any]


def finding(check: str, subject: str, message: str, evidence: list[str], expected: str = "") -> Finding:
    return {
        "check": check,
        "subject": subject,
        "message": message,
        "evidence": evidence,
        "expected": expected,
    }


def _from(exc: CheckFailed, check: str, subject: str) -> Finding:
    return finding(check, subject, exc.message, exc.evidence, exc.expected or "")


def judge_exchange(operation_id: str, ex: Exchange, statuses: tuple[int, ...] = (200,)) -> Finding | None:
    """None when `ex` is the contract's success answer (or a legal overload refusal), else a finding."""
    op = contract.operation(operation_id)
    try:
        if ex.status in OVERLOAD:
            expect_error(ex, op, ex.status)
            return None
        expect_status(
            ex, statuses, expected=f"{operation_id}: {' or '.join(map(str, statuses))} for a valid request"
        )
        if op.body_schema(ex.status or 0) is not None:
            expect_json_body(ex, op)
    except CheckFailed as exc:
        return _from(exc, RESPONSES, operation_id)
    return None


def payloads(s: StreamResult) -> list[dict[str, Any]]:
    """The JSON objects of a stream's data events (non-JSON data is left to the item schema check)."""
    return s.json_events()


def judge_stream(s: StreamResult, operation_id: str = "sendChatMessage") -> Finding | None:
    """None when the stream is 200 text/event-stream, every event valid, closed after its terminal event."""
    ex = s.exchange
    if ex.content_type != "text/event-stream":
        return judge_exchange(operation_id, ex)
    op = contract.operation(operation_id)
    rule = f"{operation_id}, streaming: every event valid and the stream ends with one terminal event"
    schema = op.item_schema(200)
    if ex.status != 200:
        return finding(
            STREAMS, operation_id, f"a stream answered with status {ex.status}", [s.evidence()], rule
        )
    for i, event in enumerate(s.events):
        errors = contract.item_errors(schema, event.item()) if schema else []
        if errors:
            return finding(
                STREAMS,
                operation_id,
                f"event {i} {event.item()!r:.160} is invalid: {'; '.join(errors)}",
                [s.evidence()],
                rule,
            )
    events = [p.get("event") for p in payloads(s)]
    terminals = [e for e in events if e in TERMINAL]
    if not terminals:
        return finding(
            STREAMS,
            operation_id,
            f"the stream ended ({s.end_reason}) without a terminal event "
            f"({' or '.join(TERMINAL)}) after {len(events)} events",
            [s.evidence()],
            rule,
        )
    if not s.complete:
        return finding(
            STREAMS, operation_id, f"the stream did not end properly: {s.end_reason}", [s.evidence()], rule
        )
    return None


def stream_timings(s: StreamResult) -> tuple[float | None, list[float]]:
    """(time to first token, intervals between tokens), in ms, from the arrival stamps of `message` events."""
    arrivals = []
    for event in s.data_events():
        try:
            payload = json.loads(event.data or "")
        except ValueError:
            continue
        if isinstance(payload, dict) and payload.get("event") in ("message", "agent_message"):
            arrivals.append(event.arrived)
    if not arrivals:
        return None, []
    ttft = (arrivals[0] - s.started) * 1000
    return round(ttft, 2), [round((b - a) * 1000, 2) for a, b in zip(arrivals, arrivals[1:], strict=False)]
