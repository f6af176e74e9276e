"""The app factory: one Flask route per contract operation, bound to its handler by operationId.

Every request goes through the same pipeline: CORS preflight, auth, faults, contract validation,
handler; errors come back in the envelope of the operation's surface; each request is journaled.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import weakref
from typing import Any

from flask import Flask, Request, Response, g, request
from werkzeug.exceptions import HTTPException

from mock_server import store
from mock_server.admin import admin_blueprint
from mock_server.config import MockConfig
from mock_server.contract import Operation
from mock_server.errors import ApiError, error_response, surface_for_path
from mock_server.faults import STREAM_KEYS, fault_error, parse_fault, pick_global
from mock_server.handlers import HANDLERS, HTTP_ERROR_OVERRIDES, STREAMS, VALIDATION_OVERRIDES, Call
from mock_server.handlers.files import signed_files_blueprint
from mock_server.limits import BODY_KEY, OPERATION_BODY_BYTES, InputError, bounded, read_json
from mock_server.state import MockState, build_state, db, release_db, remove_store_files
from mock_server.streaming import Pacing
from mock_server.validation import environ_key, validate_request

_AUTH_MISSING = "Authorization header must be provided and start with 'Bearer'"
_AUTH_INVALID = "Access token is invalid"
_HF_AUTH_INVALID = "Authorization header is correct, but the token seems invalid"
_OPENAI_AUTH_INVALID = "Incorrect API key provided."
EXPOSED_HEADERS = "Retry-After, WWW-Authenticate, X-Mock-Operation, Content-Type"
JOURNAL_BODY_LIMIT = 16384


# Apps are built one at a time: werkzeug compiles each URL rule with ast.parse, and CPython 3.11's
# AST conversion keeps its recursion depth in state the threads share; when a thread switch comes in
# the middle of one parse (a garbage collection running a finalizer that releases the GIL) and another
# thread parses, one of them fails with "SystemError: AST constructor recursion depth mismatch". The
# test gallery builds its variants' apps in a thread pool, and one CI run lost all 130 variants so.
_BUILDING = threading.Lock()


def create_app(config: MockConfig | dict[str, Any] | None = None) -> Flask:
    """A ready mock. `config` is a MockConfig, a dict of its fields, or None for the defaults."""
    with _BUILDING:
        return _create_app(config)


def _create_app(config: MockConfig | dict[str, Any] | None) -> Flask:
    cfg = MockConfig.coerce(config)
    state = build_state(cfg)
    missing = sorted(op.operation_id for op in state.contract.operations if op.operation_id not in HANDLERS)
    if missing:
        raise RuntimeError(f"no handler for contract operations: {', '.join(missing)}")
    app = _MockFlask("mock_server")
    # An empty path segment names nothing: `POST /v1/conversations//name` is a 404, as on Dify, not
    # werkzeug's merged `/v1/conversations/name` (the delete route's 405 with `Allow: DELETE`).
    app.url_map.merge_slashes = False
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_upload_mb * 1024 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["chat_mock"] = state
    if state.temp_store:  # the private temp store goes with the app (or at exit, at the latest)
        weakref.finalize(app, remove_store_files, state.db_path)
    for op in state.contract.operations:
        app.add_url_rule(
            op.url_rule,
            endpoint=op.operation_id,
            view_func=_view(op, state),
            methods=[op.method],
            provide_automatic_options=False,
        )
    app.register_blueprint(admin_blueprint, url_prefix="/_mock")
    app.register_blueprint(signed_files_blueprint)  # the signed file URLs of uploads (no API key)
    app.before_request(_preflight)
    app.after_request(_after_hook(state))
    app.teardown_request(_close_db)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _crash)
    return app


class _MockFlask(Flask):
    """Flask without the per-call coroutine test: the mock has no async views or hooks, and
    `ensure_sync` (inspect.iscoroutinefunction on every hook and view, 4 per request) is documented
    as the method to override for how views are run."""

    def ensure_sync(self, func: Any) -> Any:
        return func


def _view(op: Operation, state: MockState):
    """The view of one operation; it holds its app's state (no proxy lookup per request)."""

    cap = OPERATION_BODY_BYTES.get(op.operation_id)

    def view(**path_args: str) -> Response:
        g.operation = op
        surface = op.tag
        req = request._get_current_object()  # type: ignore[attr-defined]  # once, not per attribute
        if cap is not None:  # refused from its Content-Length, before a byte of the body is read
            req.max_content_length = min(cap, req.max_content_length or cap)
        try:
            key = _authenticate(state, req, surface)
            fault = _fault_for(state, op, req)
            if fault.get("latency_ms"):
                time.sleep(fault["latency_ms"] / 1000.0)
            if "status" in fault:
                raise fault_error(fault, surface, model=_model_name(path_args), codes=state.error_codes)
            try:
                validated = validate_request(op, req, path_args)
            except ApiError as err:
                override = VALIDATION_OVERRIDES.get((op.operation_id, err.param or ""))
                if override:
                    err.status, err.code, err.message = override
                raise
            if "HTTP_X_MOCK_FAULT" in req.environ:
                _refuse_stream_directives(op, validated, fault)
            call = Call(op=op, key=key, v=validated, fault=fault, pacing=_pacing(state, req), state=state)
            return HANDLERS[op.operation_id](call)
        except ApiError as err:
            return error_response(surface, err)

    view.__name__ = op.operation_id
    return view


def _refuse_stream_directives(op: Operation, validated: Any, fault: dict[str, Any]) -> None:
    """A stream directive in the X-Mock-Fault header of a request that is not streamed is a 400.

    (A stored fault with one only matches streamed requests, see _fault_for.)
    """
    used = [name for name in STREAM_KEYS if name in fault]
    if used and not _streaming(op, validated.body):
        raise ApiError(
            400,
            f"X-Mock-Fault: {used[0]} applies to streaming responses only",
            "invalid_param",
            param="X-Mock-Fault",
        )


def _streaming(op: Operation, body: Any) -> bool:
    """Whether a request body asks `op` for a streamed answer."""
    return op.operation_id in STREAMS and isinstance(body, dict) and STREAMS[op.operation_id](body)


def _model_name(path_args: dict[str, str]) -> str | None:
    if "owner" in path_args and "model" in path_args:
        return f"{path_args['owner']}/{path_args['model']}"
    return None


def _authenticate(state: MockState, req: Request, surface: str) -> str:
    header = req.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="api"'}
    if scheme != "Bearer" or not token.strip():
        raise ApiError(401, _AUTH_MISSING, "unauthorized", headers=challenge)
    token = token.strip()
    if token not in state.config.api_keys:
        message = {"conversational": _HF_AUTH_INVALID, "chat-completions": _OPENAI_AUTH_INVALID}.get(
            surface, _AUTH_INVALID
        )
        raise ApiError(401, message, "unauthorized", headers=challenge)
    return token


def _fault_for(state: MockState, op: Operation, req: Request) -> dict[str, Any]:
    """The request's fault: the X-Mock-Fault header, else a matching global fault, else {}."""
    header = req.environ.get("HTTP_X_MOCK_FAULT")  # the header, without EnvironHeaders' lookup
    if header:
        try:
            return parse_fault(header, state.error_codes)
        except ValueError as exc:
            raise ApiError(400, f"X-Mock-Fault: {exc}", "invalid_param", param="X-Mock-Fault") from exc
    conn = db(state)
    rows = state.global_faults(conn)
    if rows and not _streaming(op, _json_or_none(req)):  # stream faults wait for a stream
        rows = [row for row in rows if not any(name in row["fault"] for name in STREAM_KEYS)]
    if not rows:
        return {}
    row = pick_global(rows, op.operation_id, random.Random())
    if row is None or not store.take_fault(conn, row["id"], row["remaining"] is not None):
        return {}
    return row["fault"]


def _json_or_none(req: Request) -> Any:
    """The request's JSON body, or None when it has none or it is refused (validation says why)."""
    try:
        return read_json(req) if req.is_json else None
    except InputError:
        return None


def _pacing(state: MockState, req: Request) -> Pacing:
    """Pacing from the config, overridden by the X-Mock-* headers (finite, within limits.BOUNDS)."""
    cfg = state.config
    environ = req.environ
    if not any(key in environ for key in _PACING_KEYS):  # the common case: the config's pacing
        return Pacing(cfg.ttft_ms, cfg.token_interval_ms, cfg.jitter_ms, cfg.seed)

    def header(name: str, default: float, integer: bool = False) -> Any:
        raw = environ.get(environ_key(name))
        if raw is None:
            return default
        try:
            return bounded(name, raw, integer)
        except InputError as exc:
            raise ApiError(400, str(exc), "invalid_param", param=name) from exc

    return Pacing(
        ttft_ms=header("X-Mock-TTFT-Ms", cfg.ttft_ms),
        interval_ms=header("X-Mock-Token-Interval-Ms", cfg.token_interval_ms),
        jitter_ms=header("X-Mock-Jitter-Ms", cfg.jitter_ms),
        seed=header("X-Mock-Seed", cfg.seed, integer=True),
    )


PACING_HEADERS = ("X-Mock-TTFT-Ms", "X-Mock-Token-Interval-Ms", "X-Mock-Jitter-Ms", "X-Mock-Seed")
_PACING_KEYS = tuple(environ_key(name) for name in PACING_HEADERS)  # their WSGI environ keys


def _preflight() -> Response | None:
    g.started = time.monotonic()
    if request.method == "OPTIONS" and not _admin_path(request.path):  # the admin API: no preflight
        resp = Response(status=204)
        resp.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
        resp.headers["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", "Authorization, Content-Type, X-Mock-Fault"
        )
        resp.headers["Access-Control-Max-Age"] = "600"
        return resp
    return None


def _after_hook(state: MockState):
    """The after-request hook of one app: it holds the app's state, and looks up the request and
    `g` once (each use of a context proxy costs a lookup; a request made ~30 of them here)."""

    def after(resp: Response) -> Response:
        req = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        headers = resp.headers
        if resp.status_code == 204:
            headers.pop("Content-Type", None)  # no body, no type
        admin = _admin_path(req.path)
        if not admin:  # CORS for the API surfaces only: no web page may use the admin API
            headers["Access-Control-Allow-Origin"] = "*"
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        op = ctx.get("operation")
        if op is not None:
            headers["X-Mock-Operation"] = op.operation_id
        if not admin and req.method != "OPTIONS" and state.config.journal_size > 0:
            _journal(state, resp, op, req, ctx.get("started"))
        if resp.is_streamed:  # a long stream must not hold a database connection
            release_db()
        return resp

    return after


def _admin_path(path: str) -> bool:
    return path == "/_mock" or path.startswith("/_mock/")


def _journal_body(req: Request) -> str | bytes:
    """The body as the journal keeps it: bytes are decoded off the request path, at the flush."""
    environ = req.environ
    if environ.get("CONTENT_LENGTH") in (None, "", "0") and "HTTP_TRANSFER_ENCODING" not in environ:
        return b""  # no body (a GET): nothing to read
    if req.mimetype == "multipart/form-data":
        parts = {k: v for k, v in req.form.items()}
        parts.update({k: f"<file {f.filename!r} {f.mimetype}>" for k, f in req.files.items()})
        return json.dumps(parts)
    read = environ.get(BODY_KEY)  # a JSON body validation has read (limits.read_body)
    return (read if read is not None else req.get_data(cache=True))[:JOURNAL_BODY_LIMIT]


def _journal(
    state: MockState, resp: Response, op: Operation | None, req: Request, started: float | None
) -> None:
    """Record the request as raw data; the journal redacts and formats it in its flusher thread."""
    try:
        body = _journal_body(req)
    except Exception as exc:  # e.g. a body over the size cap: the journal must never break an answer
        body = f"<body not recorded: {type(exc).__name__}>"
    if started is None:
        started = time.monotonic()
    environ = req.environ
    entry = {
        "ts": time.time(),
        "method": req.method,
        "path": req.path,
        "query": environ.get("QUERY_STRING", ""),
        "headers": environ,  # its header keys are picked out at the flush
        "body": body,
        "status": resp.status_code,
        "operation_id": op.operation_id if op else None,
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
        "raw": True,
    }
    state.journal.add(entry)
    if resp.is_streamed:  # until the stream ends, duration_ms is the time to the response headers
        journal = state.journal
        resp.call_on_close(lambda: journal.finish(entry, round((time.monotonic() - started) * 1000, 3)))


def _close_db(_exc: BaseException | None) -> None:
    release_db()


def _http_error(exc: HTTPException) -> Response:
    """404, 405, 413 and friends from routing, in the envelope of the URL's surface."""
    op = g.get("operation")
    surface = op.tag if op else surface_for_path(request.path)
    status = exc.code or 500
    message = {
        404: f"The requested URL {request.path} was not found on this server.",
        405: f"The method {request.method} is not allowed for the requested URL.",
        413: "The request body is too large.",
    }.get(status, exc.description or exc.name)
    code = None
    if op is not None and (op.operation_id, status) in HTTP_ERROR_OVERRIDES:
        code, message = HTTP_ERROR_OVERRIDES[(op.operation_id, status)]
    resp = error_response(surface, ApiError(status, message, code))
    if status == 405 and exc.get_response().headers.get("Allow"):
        resp.headers["Allow"] = exc.get_response().headers["Allow"]
    return resp


def _crash(exc: Exception) -> Response:
    """An unexpected exception is still answered in the surface's envelope (never an HTML page)."""
    op = g.get("operation")
    surface = op.tag if op else surface_for_path(request.path)
    logging.getLogger("mock_server").exception("unhandled error")
    return error_response(surface, ApiError(500, f"The mock failed: {type(exc).__name__}: {exc}"))
