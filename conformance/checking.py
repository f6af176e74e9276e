"""How a check states what it wants: a marker naming the check, and failures that carry evidence.

Every check is one pytest test marked with `@check(id, title)`; the id's first part is its area.
A failure raises `CheckFailed` with the request, the answer and what the contract wanted, which the
plugin turns into the 1-2 line explanation of the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NoReturn

import pytest

from conformance import contract
from conformance.causes import (
    Blocked,
    Cause,
    field_cause,
    no_answer_cause,
    readable,
    schema_cause,
    status_cause,
)
from conformance.causes import envelope_cause as _envelope_cause
from conformance.http import Exchange, StreamResult

MUST = "MUST"
SHOULD = "SHOULD"


def check(
    check_id: str,
    title: str,
    level: str = MUST,
    contract: str | None = None,
    cause: tuple[str, str] | None = None,
) -> pytest.MarkDecorator:
    """Mark a test as the check `check_id` (area = the part before the first dot).

    `contract` is the contract rule the check enforces, quoted in the report for a failure that
    does not name a more specific one itself (every failure entry carries a contract line).
    `cause` (key, title) names the defect every failure of the check is, however it shows (another
    user reaching the owner's data is one defect whether it reads, renames or deletes).
    """
    kwargs: dict[str, Any] = {"title": title, "level": level}
    if contract is not None:
        kwargs["contract"] = contract
    if cause is not None:
        kwargs["cause"] = cause
    return pytest.mark.conformance(check_id, **kwargs)


class CheckFailed(AssertionError):
    """A contract violation, with the evidence that shows it and (when known) its root cause."""

    def __init__(
        self,
        message: str,
        evidence: Iterable[str] = (),
        expected: str | None = None,
        cause: Cause | None = None,
    ):
        self.message = message
        self.evidence = [e for e in evidence if e]
        self.expected = expected
        self.cause = cause
        text = message
        if expected:
            text += f"\n  contract: {expected}"
        for e in self.evidence:
            text += "\n  " + e
        super().__init__(text)


def _ev(items: Iterable[Any]) -> list[str]:
    out = []
    for item in items:
        if isinstance(item, Exchange | StreamResult):
            out.append(item.evidence())
        elif item:
            out.append(str(item))
    return out


def fail(message: str, *evidence: Any, expected: str | None = None, cause: Cause | None = None) -> NoReturn:
    raise CheckFailed(message, _ev(evidence), expected, cause)


def expect(
    condition: Any, message: str, *evidence: Any, expected: str | None = None, cause: Cause | None = None
) -> None:
    if not condition:
        fail(message, *evidence, expected=expected, cause=cause)


def expect_status(
    ex: Exchange, statuses: int | Iterable[int], expected: str | None = None, cause: Cause | None = None
) -> None:
    """The answer's status is one of `statuses`; the failure's cause names the operation and statuses."""
    wanted = {statuses} if isinstance(statuses, int) else set(statuses)
    shown = " or ".join(map(str, sorted(wanted)))
    if ex.status is None:  # the transport's finding (deadline, cut, too large, refused) is the message
        what = "no complete answer" if ex.partial_status is not None else "no answer"
        fail(
            f"{what}: {readable(ex.error or '')} (wanted {shown})",
            ex,
            expected=expected,
            cause=cause or no_answer_cause(ex.method, ex.url, ex.error or ""),
        )
    if ex.status not in wanted:
        fail(
            f"status {ex.status}, wanted {shown}",
            ex,
            expected=expected,
            cause=cause or status_cause(ex.method, ex.url, ex.status, shown),
        )


def needs(ex: Exchange, op: contract.Operation, body: Any, *fields: str, status: int = 200) -> dict[str, Any]:
    """A prerequisite answer: a JSON object whose `fields` are strings (only what the caller uses).

    The rest of the answer is judged once, by the check that owns its schema; a missing or
    malformed field the caller needs blocks the caller (blocked by that field), it does not fail it.
    """
    if not isinstance(body, dict):
        raise Blocked(
            schema_cause(op.operation_id, status, ["(root): the body is not a JSON object"]),
            "the answer is not a JSON object",
            _ev([ex]),
        )
    for name in fields:
        if not isinstance(body.get(name), str) or not body[name]:
            cause = field_cause(op.operation_id, status, name, "is missing or not a string")
            raise Blocked(cause, f"the answer has no usable `{name}`", _ev([ex]))
    return body


def needs_page(ex: Exchange, op: contract.Operation) -> dict[str, Any]:
    """A list answer a check reads items from: a JSON object whose `data` is a list of objects.

    The page's schema is the history and conversations checks' to judge; an answer without a
    usable `data` list blocks the reader (by that field's finding), it does not fail it.
    """
    body = ex.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        cause = field_cause(op.operation_id, ex.status, "data", "is not a list of objects")
        raise Blocked(cause, "the page has no usable `data` list", _ev([ex]))
    return body


def need_field(ex: Exchange, op: contract.Operation, body: dict[str, Any], name: str, kind: type) -> Any:
    """One field a check judges further: when it is absent or of another type, the check is blocked
    by that field's schema finding (chat.blocking_shape and its kin report it once)."""
    value = body.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        cause = field_cause(op.operation_id, 200, name, f"is not of type {kind.__name__}")
        raise Blocked(cause, f"`{name}` is {type(value).__name__}, not {kind.__name__}", _ev([ex]))
    return value


def expect_json_body(ex: Exchange, op: contract.Operation, status: int | None = None) -> Any:
    """The JSON body of `ex`, valid against the contract's schema for its status."""
    status = ex.status if status is None else status
    schema = op.body_schema(status or 0)
    rule = f"{op.operation_id} {status}: an application/json body matching the contract's schema"
    if schema is None:
        fail(f"the contract declares no JSON body for {op.operation_id} {status}", ex, expected=rule)
    if "json" not in ex.content_type:
        fail(f"content type {ex.content_type or '(none)'}, wanted application/json", ex, expected=rule)
    body = ex.json()
    if body is None and ex.text.strip() != "null":
        fail(
            "body is not JSON",
            ex,
            expected=rule,
            cause=schema_cause(op.operation_id, status, ["(root): not JSON"]),
        )
    errors = contract.schema_errors(schema, body)
    if errors:
        fail(
            "body does not match the contract: " + "; ".join(errors),
            ex,
            expected=f"{op.operation_id} {status} schema",
            cause=schema_cause(op.operation_id, status, errors),
        )
    return body


def expect_error(
    ex: Exchange,
    op: contract.Operation,
    status: int,
    code: str | None = None,
    message: str | None = None,
    cause: Cause | None = None,
) -> Any:
    """An error answer: this status and the surface's error envelope (and `code` when given).

    `cause` names the root cause when the status is wrong, if the check knows better than
    "operation X answers S where T is wanted" (e.g. an unknown cursor answered with items).
    """
    rule = f"{op.operation_id}: {status}{f' {code}' if code else ''} with the {op.tag} error envelope"
    expect_status(ex, status, expected=rule, cause=cause)
    schema = op.error_schema()
    body = ex.json()
    if schema is not None:
        errors = contract.schema_errors(schema, body)
        if errors:
            fail(
                f"{status} without the {op.tag} error envelope: " + "; ".join(errors),
                ex,
                expected=rule,
                cause=_envelope_cause(op.operation_id, op.tag),
            )
    if code is not None and isinstance(body, dict) and body.get("code") != code:
        fail(f"error code {body.get('code')!r}, wanted {code!r}", ex, expected=rule)
    if isinstance(body, dict) and "status" in body and op.tag == "chat-app" and body.get("status") != status:
        fail(
            f"envelope status {body.get('status')!r} differs from the HTTP status {status}",
            ex,
            expected="ChatAppError.status repeats the HTTP status",
        )
    return body
