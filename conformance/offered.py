"""Operations a server may not offer (`x-not-in-every-release`): found out once, skipped, reported.

Some operations came later than releases still in use (GET /end-users/{id} is not in Dify 1.12.1).
A server without a route for one answers a 404 that is not the surface's error envelope (Flask's HTML
page) for any id: the operation is "not offered by this server", its checks are skipped with that
reason, and the report lists it (SPEC_NOTES S19). An operation without the marker is never "not
offered": a server missing one fails its checks.
"""

from __future__ import annotations

import uuid

import pytest

from conformance import contract
from conformance.http import Client

MARKER = "x-not-in-every-release"
NOT_OFFERED = "not offered by this server"
_verdicts: dict[str, str | None] = {}  # operation id -> why it is not offered (None: it is offered)


def _probe_path(op: contract.Operation) -> str:
    """The operation's path with a fresh UUID for each id (an `enum` value where it has one)."""
    path = op.path
    for name in op.path_params():
        schema = contract.resolve((op.parameter(name, "path") or {}).get("schema") or {})
        value = str(schema["enum"][0]) if schema.get("enum") else str(uuid.uuid4())
        path = path.replace("{" + name + "}", value)
    return path


def reason_not_offered(client: Client, op: contract.Operation) -> str | None:
    """Why `op` is not offered by the server behind `client`, or None when it is (asked once a run).

    Only a GET is probed (it changes nothing); an operation of another method is taken as offered.
    """
    if MARKER not in op.spec or op.method != "GET":
        return None
    if op.operation_id not in _verdicts:
        ex = client.call("GET", _probe_path(op), mark_hang=False)
        schema = op.error_schema()
        envelope = schema is not None and not contract.schema_errors(schema, ex.json())
        verdict = None
        if ex.status == 404 and not envelope:
            kind = ex.content_type or "no content type"
            verdict = (
                f"{NOT_OFFERED}: {op.method} {op.path} has no route here (404, {kind}, not the "
                f"{op.tag} error envelope, for an id of any kind); {op.spec[MARKER]}"
            )
        _verdicts[op.operation_id] = verdict
    return _verdicts[op.operation_id]


def skip_unless_offered(client: Client, op: contract.Operation) -> None:
    """Skip the calling check when the server does not offer `op` (see the module's docstring)."""
    reason = reason_not_offered(client, op)
    if reason:
        pytest.skip(reason)


def not_offered() -> dict[str, str]:
    """operation id -> reason, for every operation found not offered in this run (for the report)."""
    return {op_id: why for op_id, why in _verdicts.items() if why}
