"""Judging one answer under load with the suite's own code: conformance.checking and the contract.

Every request the load users make is valid and about their own data, so the contract's success
answer is expected. Two kinds of refusal are legal under load and only counted as errors: 429 and
503 (overload, with the error envelope). A 500, any other status, a body that breaks the contract's
schema, or a stream that does not end with its terminal event is a finding with the evidence.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

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


@cache
def _event_validators(operation_id: str) -> dict[str, Any]:
    """The contract's validator for each stream event type named in its discriminator mapping.

    The data of a stream event is `oneOf` the event schemas, with a discriminator on `event`:
    validating an event against the one schema its discriminator names is the same judgement at a
    fraction of the cost (a load run validates thousands of events a second). Anything the fast path
    does not accept goes to `contract.item_errors`, whose message the finding carries.
    """
    out: dict[str, Any] = {}
    schema = contract.operation(operation_id).item_schema(200)
    for branch in contract.resolve(schema).get("anyOf", []) if schema else []:
        data = contract.resolve(branch).get("properties", {}).get("data", {})
        content = contract.resolve(data.get("contentSchema", {}))
        for event, target in content.get("discriminator", {}).get("mapping", {}).items():
            try:
                out[event] = jsonschema.Draft202012Validator(
                    _inline({"$ref": target}), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
                )
            except RecursionError:
                out[event] = contract.validator({"$ref": target})
    return out


def _inline(node: Any, depth: int = 0) -> Any:
    """The schema with the contract's local `$ref`s replaced by their targets (no registry lookups)."""
    if depth > 32:
        raise RecursionError("a recursive schema cannot be inlined")
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target = _inline(contract.resolve({"$ref": ref}), depth + 1)
            rest = {k: _inline(v, depth + 1) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target, rest]} if rest else target
        return {k: _inline(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, depth + 1) for v in node]
    return node


def event_errors(operation_id: str, schema: dict[str, Any], item: dict[str, Any]) -> list[str]:
    """The contract's errors for one parsed event ([] when valid)."""
    if "data" in item and item.get("event", "message") == "message" and set(item) <= {"data", "event", "id"}:
        try:
            payload = json.loads(item["data"])
        except ValueError:
            payload = None
        fast = (
            _event_validators(operation_id).get(payload.get("event")) if isinstance(payload, dict) else None
        )
        if fast is not None and fast.is_valid(payload):
            return []
    return contract.item_errors(schema, item)


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
        errors = event_errors(operation_id, schema, event.item()) if schema else []
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
