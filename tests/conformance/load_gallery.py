"""The load gallery: defects that only concurrency shows, each caught by a load run, never by one user.

Each variant wraps the real mock; its state is shared across requests (one variant instance per
server) and keyed on what is in flight, so a server answering one user at a time behaves
correctly, and the same server under load breaks an invariant of `chat-conformance load`.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from tests.conformance.rewrite import frame_json, frames, wrap

App = Callable[..., Any]


class InFlight:
    """Counts the requests being answered (until their body is fully sent), by user."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, int] = {}

    def others(self, user: str) -> int:
        with self.lock:
            return sum(n for u, n in self.users.items() if u != user)

    def middleware(self, app: App) -> App:
        def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            user = environ["load_gallery.user"] = request_user(environ)
            with self.lock:
                self.users[user] = self.users.get(user, 0) + 1
            try:
                result = app(environ, start_response)
            except BaseException:
                self._done(user)
                raise
            return self._closing(result, user)

        return wsgi

    def _closing(self, result: Iterable[bytes], user: str) -> Iterator[bytes]:
        try:
            yield from result
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
            self._done(user)

    def _done(self, user: str) -> None:
        with self.lock:
            self.users[user] -= 1


def request_user(environ: dict[str, Any]) -> str:
    """The `user` of a request, from its query or (peeked, then restored) JSON body."""
    if "load_gallery.user" in environ:  # read once, before the app consumed the body
        return environ["load_gallery.user"]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if query.get("user"):
        return query["user"][0]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length or not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return ""
    raw = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw)
    except ValueError:
        return ""
    return str(body.get("user", "")) if isinstance(body, dict) else ""


@dataclass(frozen=True)
class LoadVariant:
    name: str
    description: str
    make: Callable[[App], App]
    catches: str  # the load invariant that must be violated


def loses_messages_under_concurrency(app: App) -> App:
    """A message answered while another user's request is in flight is acknowledged but never stored."""
    flight, lost = InFlight(), set()

    def on_blocking(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and flight.others(request_user(env)):
            lost.add(body.get("id"))
        return code, body

    def on_stream(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        user = request_user(env)
        for frame in frames(chunks):
            payload = frame_json(frame)
            if isinstance(payload, dict) and payload.get("event") == "message_end" and flight.others(user):
                lost.add(payload.get("id"))
            yield frame

    def hide(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("data"), list):
            body["data"] = [m for m in body["data"] if m.get("id") not in lost]
        return code, body

    inner = wrap(app, path=r"/v1/chat-messages$", method="POST", json_response=on_blocking, stream=on_stream)
    inner = wrap(inner, path=r"/v1/messages$", method="GET", json_response=hide)
    return flight.middleware(inner)


def leaks_conversations_when_interleaved(app: App) -> App:
    """A listing answered during another user's request gets that user's last listed conversation."""
    flight = InFlight()
    recent: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()

    def listing(env: Any, code: int, body: Any) -> tuple[int, Any]:
        user = request_user(env)
        if code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return code, body
        with lock:
            if body["data"]:
                recent[user] = dict(body["data"][0])
            foreign = next((c for u, c in recent.items() if u != user), None)
        if (
            foreign is not None
            and flight.others(user)
            and foreign["id"] not in {c["id"] for c in body["data"]}
        ):
            body["data"] = [foreign, *body["data"]][: max(1, len(body["data"]))]
        return code, body

    return flight.middleware(wrap(app, path=r"/v1/conversations$", method="GET", json_response=listing))


def drops_terminal_event_under_load(app: App) -> App:
    """A stream that runs while another user's stream does loses its message_end (the body still closes)."""
    streaming = InFlight()

    def on_stream(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        user = request_user(env)
        for frame in frames(chunks):
            payload = frame_json(frame)
            if isinstance(payload, dict) and payload.get("event") == "message_end" and streaming.others(user):
                continue
            yield frame

    inner = wrap(app, path=r"/v1/chat-messages$", method="POST", stream=on_stream)

    def only_streams(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").endswith("/chat-messages") and b"streaming" in _peek(environ):
            return streaming.middleware(inner)(environ, start_response)
        return inner(environ, start_response)

    return only_streams


def _peek(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(raw)
    return raw


LOAD_BROKEN = [
    LoadVariant(
        "loses_messages_under_concurrency",
        "acknowledges a message answered during another user's request, then never returns it in history",
        loses_messages_under_concurrency,
        "load.acknowledged_in_history",
    ),
    LoadVariant(
        "leaks_conversations_when_interleaved",
        "a conversation listing answered during another user's request shows that user's conversation",
        leaks_conversations_when_interleaved,
        "load.isolation",
    ),
    LoadVariant(
        "drops_terminal_event_under_load",
        "a stream running beside another user's stream ends without message_end",
        drops_terminal_event_under_load,
        "load.streams_complete",
    ),
]
