"""Root causes: what a failure is really about, so one vendor bug reads as one finding.

A failure carries a `Cause`: a key (equal keys = the same defect) and a title a vendor can act on.
The key names the operation and the violated rule: the status it answered where another was
wanted, the field of its body the schema rejects, the cursor it does not honour, the hang. Checks
that use the same exchange or the same helper therefore share a key without knowing about each
other; a failure without a key falls back to its evidence (the same exchange) and then its check.

`Blocked` is raised where a check cannot be judged because something it needs failed first (a
prerequisite answer, or an operation that hung earlier in the run): the check is reported as
blocked by that cause, never as a failure of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from conformance import contract


@dataclass(frozen=True)
class Cause:
    key: str
    title: str
    where: str = ""  # the operation it was seen on ("METHOD /path"), when the key spans operations
    status: int | None = None  # the status answered, for a wrong-status cause
    wanted: str = ""  # the status(es) wanted there


class Blocked(Exception):
    """A check could not be judged: `cause` (found before, or while preparing it) stands in the way."""

    def __init__(self, cause: Cause, message: str = "", evidence: list[str] | None = None):
        self.cause = cause
        self.message = message or cause.title
        self.evidence = evidence or []
        super().__init__(f"blocked by {cause.title}")


@cache
def _templates() -> tuple[tuple[re.Pattern[str], str, str, str], ...]:
    """(path regex, method, template, operation id) of every contract operation, longest first."""
    out = []
    for op in contract.operations():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(op.path))
        out.append((re.compile(pattern + "$"), op.method, op.path, op.operation_id))
    return tuple(sorted(out, key=lambda t: -len(t[2])))


def operation_of(method: str, url: str) -> tuple[str, str]:
    """(operation id, "METHOD /template") of a request; the raw path when the contract has no such route."""
    path = urlsplit(url).path.rstrip("/") or "/"
    method = method.upper()
    for regex, op_method, template, op_id in _templates():
        if op_method == method and regex.search(path):
            return op_id, f"{method} {template}"
    return f"{method} {path}", f"{method} {path}"


def status_cause(method: str, url: str, got: int, wanted: str) -> Cause:
    """The defect is the behaviour, not the operation: the same wrong status where the same status is
    wanted, on any number of operations, is one cause (the heading lists the operations); a request
    without a valid key answered with anything but 401 is one cause, whatever it answered."""
    _, shown = operation_of(method, url)
    if wanted == "401":
        return Cause(AUTH_KEY, AUTH_TITLE, shown, got, wanted)
    return Cause(
        f"status {got} for {wanted}", f"{shown} answers {got} where {wanted} is wanted", shown, got, wanted
    )


# Every failure of an isolation check is one defect, whatever door it came through (SPEC_NOTES S12).
ISOLATION = ("isolation: another's data", "another user or another app reaches data it does not own")
HISTORY_PAGES = (
    "listMessages: pages",
    "GET /messages pages do not hold together (first_id, limit, has_more, order)",
)
CONVERSATION_PAGES = (
    "listConversations: pages",
    "GET /conversations pages do not hold together (last_id, limit, has_more, order)",
)
DELETED_STAYS = ("deleteConversation: still there", "a deleted conversation is still there")
RATINGS_NOT_KEPT = ("feedback: ratings", "a rating is not kept as it was given")
AUTH_KEY = "auth: the key is not checked"
AUTH_TITLE = "a request without a valid API key is answered instead of refused with 401"


def hang_key(method: str, url: str, streamed: bool = False) -> str:
    op_id, _ = operation_of(method, url)
    return f"{op_id}{' (stream)' if streamed else ''}: hangs"


def hang_cause(method: str, url: str, error: str, streamed: bool = False) -> Cause:
    _, shown = operation_of(method, url)
    what = "its stream" if streamed else "it"
    return Cause(hang_key(method, url, streamed), f"{shown} hangs: {what} did not finish ({error})")


def readable(error: str) -> str:
    """requests' timeout text (a nested repr of the pool) in the user's words."""
    error = re.sub(
        r"ReadTimeout: .*?Read timed out\. \(read timeout=([\d.]+)\)",
        r"no bytes within the read timeout (\1 s)",
        error,
    )
    return re.sub(
        r"ConnectTimeout: .*?timed out\. \(connect timeout=([\d.]+)\)\)*", r"no connection within \1 s", error
    )


def no_answer_cause(method: str, url: str, error: str) -> Cause:
    """No complete answer: a hang (timeouts) or a transport defect (cut, too large, refused)."""
    error = readable(error)
    if _is_hang(error):
        return hang_cause(method, url, error)
    op_id, shown = operation_of(method, url)
    kind = re.sub(r"[\d.]+", "N", error.split(":")[0])[:60]
    return Cause(f"{op_id}: no answer ({kind})", f"{shown} gives no complete answer: {error}")


def _is_hang(error: str) -> bool:
    return any(
        word in error for word in ("timeout", "Timeout", "timed out", "deadline", "still open", "stalled")
    )


def schema_cause(operation_id: str, status: int | None, errors: list[str]) -> Cause:
    """The first field the schema rejects: every check reading the same answer shares it."""
    where, _, message = (errors[0] if errors else "(root): ?").partition(": ")
    field = where.replace("/", ".")
    required = re.match(r"'([^']+)' is a required property", message)
    if required:
        field = required.group(1) if field == "(root)" else f"{field}.{required.group(1)}"
        rule = "is missing"
    else:
        rule = re.sub(r"^.*? is not of type ", "is not of type ", message)[:120]
    field = re.sub(r"\.\d+(?=\.|$)", "[]", field)  # data.3.id and data.0.id are one defect
    return Cause(
        f"{operation_id} {status}: body field {field}",
        f"{operation_id} {status}: `{field}` {rule} (contract schema)",
    )


def field_cause(operation_id: str, status: int | None, field: str, rule: str) -> Cause:
    """A check's own finding about one body field, keyed like the schema's finding on that field."""
    return Cause(f"{operation_id} {status}: body field {field}", f"{operation_id} {status}: `{field}` {rule}")


def parameter_cause(operation_id: str, parameter: str, rule: str) -> Cause:
    """A request parameter the server does not honour (a cursor, a limit)."""
    return Cause(f"{operation_id}: parameter {parameter}", f"{operation_id}: `{parameter}` {rule}")


def envelope_cause(operation_id: str, tag: str) -> Cause:
    return Cause(
        f"{tag}: error envelope", f"errors are not in the {tag} error envelope (seen on {operation_id})"
    )
