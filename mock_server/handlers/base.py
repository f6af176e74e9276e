"""What every handler receives, and small response helpers."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response, request

from mock_server import jsoncodec
from mock_server.apps import App
from mock_server.contract import Operation
from mock_server.errors import ApiError
from mock_server.state import MockState, db
from mock_server.streaming import Pacing
from mock_server.validation import Validated


@dataclass
class Call:
    op: Operation
    key: str  # the caller's API key (data is scoped to it)
    v: Validated
    fault: dict[str, Any]
    pacing: Pacing
    state: MockState

    @property
    def body(self) -> dict[str, Any]:
        return self.v.body if isinstance(self.v.body, dict) else {}

    @property
    def db(self) -> sqlite3.Connection:
        return db(self.state)

    @property
    def app(self) -> App:
        """The app the caller's key is (its mode, parameters and replies)."""
        assert self.state.apps is not None
        return self.state.apps.for_key(self.key)


# The end user of a request that names none (today's servers; the 2023 contract requires `user`).
DEFAULT_END_USER = "DEFAULT-USER"


def user_of(call: Call) -> str:
    """The request's end user: `user` of the body or the query, else the app's default end user."""
    return call.body.get("user") or call.v.params.get("user") or DEFAULT_END_USER


def body_default(call: Call, name: str) -> Any:
    """A body field's value, or the default the contract (of the served era) declares for it."""
    body = call.body
    return body[name] if name in body else call.op.body_defaults.get(name)


def not_found(message: str) -> ApiError:
    """A Chat App 404 with Dify's message, e.g. "Conversation Not Exists."."""
    return ApiError(404, message, "not_found")


def bad_param(field: str, message: str) -> ApiError:
    """A Chat App 400 `invalid_param` naming the field at fault."""
    return ApiError(400, f"{field}: {message}" if field else message, "invalid_param", param=field or None)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(jsoncodec.dumps(payload), status=status, mimetype="application/json")


def connection_dropper() -> Callable[[], None]:
    """A function that shuts the client's TCP connection down mid-response, as a crashed upstream
    does. gunicorn and werkzeug's server put the socket in the environ; without one it does nothing."""
    sock = request.environ.get("gunicorn.socket") or request.environ.get("werkzeug.socket")

    def drop() -> None:
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    return drop


def sse_response(frames: Iterator[bytes]) -> Response:
    """A streamed text/event-stream; the headers stop proxies from buffering it.

    The generator needs no request context (it works from closures), so none is kept alive: the
    request is torn down, and its database connection released, as soon as streaming starts.
    """
    resp = Response(frames, mimetype="text/event-stream")
    resp.headers["Cache-Control"] = "no-cache"
    resp.headers["X-Accel-Buffering"] = "no"
    return resp
