"""The admin API under /_mock/: health, reset, fixtures, journal, faults.

Open by default (the mock is a local development tool); with --admin-token every admin call needs
`Authorization: Bearer <token>` or `X-Mock-Admin-Token: <token>`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Any

import yaml
from flask import Blueprint, Response, current_app, request

from mock_server import store
from mock_server.faults import parse_fault
from mock_server.fixtures import FixtureError
from mock_server.state import db, get_state

admin_blueprint = Blueprint("chat_mock_admin", __name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


_CODES = {400: "invalid_param", 401: "unauthorized", 409: "conflict"}


def _error(status: int, message: str) -> Response:
    return _json({"code": _CODES.get(status, "error"), "message": message, "status": status}, status)


@admin_blueprint.before_request
def _admin_auth() -> Response | None:
    token = get_state(current_app).config.admin_token
    if not token or request.method == "OPTIONS":
        return None
    given = request.headers.get("X-Mock-Admin-Token") or request.headers.get(
        "Authorization", ""
    ).removeprefix("Bearer ")
    if given != token:
        return _error(401, "admin token required")
    return None


JOURNAL_LIMIT = 50  # default `limit` of GET /_mock/journal
FAULT_FIELDS = {"fault", "operation_id", "count", "probability"}


def _body() -> Any:
    raw = request.get_data(as_text=True)
    if not raw.strip():
        return {}
    if request.mimetype in {"application/yaml", "application/x-yaml", "text/yaml"}:
        return yaml.safe_load(raw)
    return json.loads(raw)


@admin_blueprint.get("/health")
def health() -> Response:
    state = get_state(current_app)
    conn = db(state)
    state.journal.settle()
    counts = {
        t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
        for t in ("conversations", "messages", "journal", "faults")
    }
    return _json(
        {
            "status": "ok",
            "pid": os.getpid(),
            "uptime_s": round(time.time() - state.started_at, 3),
            "store": state.db_path,
            "operations": sorted(state.operations),
            "counts": counts,
        }
    )


@admin_blueprint.post("/reset")
def reset() -> Response:
    state = get_state(current_app)
    state.journal.settle()  # requests before the reset must not reappear after it
    state.reset()
    return _json({"result": "success"})


@admin_blueprint.post("/fixtures")
def load_fixtures() -> Response:
    """Load a users document (the users.yaml layout, JSON or YAML); `?replace=true` wipes first."""
    replace = request.args.get("replace", "false").lower()
    if replace not in {"true", "false"}:
        return _error(400, f"fixtures: replace must be true or false, got {replace!r}")
    try:
        doc = _body()
    except (ValueError, yaml.YAMLError) as exc:
        return _error(400, f"fixtures: the body is not valid JSON or YAML ({_one_line(exc)})")
    try:
        count = get_state(current_app).load_users(doc, replace == "true")
    except FixtureError as exc:
        return _error(exc.status, f"fixtures: {exc}")
    except sqlite3.IntegrityError:  # a concurrent load stored the same ids first
        return _error(409, "fixtures: an id of the document already exists")
    return _json({"result": "success", "loaded": count})


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


@admin_blueprint.get("/journal")
def journal() -> Response:
    state = get_state(current_app)
    args = request.args
    values: dict[str, int | None] = {}
    for name in ("limit", "status", "since"):
        raw = args.get(name)
        try:
            values[name] = None if raw is None else int(raw)
        except ValueError:
            return _error(400, f"journal: {name} must be an integer, got {raw!r}")
    status, since = values["status"], values["since"]
    limit = JOURNAL_LIMIT if values["limit"] is None else values["limit"]
    if limit < 1:
        return _error(400, f"journal: limit must be >= 1, got {limit}")
    limit = min(limit, max(state.config.journal_size, 1))  # more than the journal keeps: all of it
    filters = {
        "method": args.get("method", "").upper() or None,
        "path": args.get("path"),
        "operation_id": args.get("operation_id"),
        "status": status,
        "since": since,
    }
    state.journal.settle()
    return _json({"data": store.journal_list(db(state), filters, limit)})


@admin_blueprint.delete("/journal")
def clear_journal() -> Response:
    state = get_state(current_app)
    state.journal.settle()
    store.journal_clear(db(state))
    return _json({"result": "success"})


@admin_blueprint.get("/faults")
def faults() -> Response:
    return _json({"data": store.list_faults(db(get_state(current_app)))})


@admin_blueprint.post("/faults")
def add_fault() -> Response:
    """Body: {"fault": "status=503" | {...}, "operation_id"?: str, "count"?: int, "probability"?: 0..1}."""
    state = get_state(current_app)
    try:
        body = _body()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(body) - FAULT_FIELDS)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(FAULT_FIELDS))})")
        spec = parse_fault(body.get("fault", {}), state.error_codes)
        if not spec:
            raise ValueError("fault is empty")
        op = body.get("operation_id")
        if op is not None and op not in state.operations:
            raise ValueError(f"unknown operation_id {op!r}")
        count = body.get("count")
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
            raise ValueError("count must be a positive integer")
        probability = body.get("probability", 1.0)
        if isinstance(probability, bool) or not isinstance(probability, (int, float)):
            raise ValueError("probability must be a number within 0..1")
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within 0..1")
    except (ValueError, TypeError, AttributeError) as exc:
        return _error(400, f"fault: {exc}")
    fault_id = store.add_fault(db(state), spec, op, count, probability)
    return _json(
        {"id": fault_id, "fault": spec, "operation_id": op, "remaining": count, "probability": probability},
        201,
    )


@admin_blueprint.delete("/faults")
def clear_faults() -> Response:
    removed = store.clear_faults(db(get_state(current_app)))
    return _json({"result": "success", "removed": removed})


@admin_blueprint.delete("/faults/<int:fault_id>")
def clear_fault(fault_id: int) -> Response:
    if not store.clear_faults(db(get_state(current_app)), fault_id):
        return _json({"code": "not_found", "message": "Fault Not Exists.", "status": 404}, 404)
    return _json({"result": "success"})
