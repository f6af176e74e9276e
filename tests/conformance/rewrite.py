"""A WSGI middleware toolkit that rewrites a server's traffic: the gallery's way to break the mock.

Each hook sees one kind of traffic: `intercept` may answer instead of the app, `request` edits a
JSON body and the query, `json_response` edits a JSON answer, `stream` edits an SSE answer frame
by frame (lazily, so pacing is preserved unless the variant chooses to buffer).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlencode

NO_BODY = object()

Environ = dict[str, Any]
Intercept = Callable[[Environ], "tuple[int, list[tuple[str, str]], bytes] | None"]
RequestHook = Callable[[Environ, Any, dict[str, str]], Any]
JsonHook = Callable[[Environ, int, Any], "tuple[int, Any]"]
StreamHook = Callable[[Environ, Iterator[bytes]], Iterator[bytes]]
HeaderHook = Callable[[Environ, list[tuple[str, str]]], list[tuple[str, str]]]


def status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


def wrap(
    app: Callable[..., Any],
    *,
    path: str = "",
    method: str = "",
    intercept: Intercept | None = None,
    request: RequestHook | None = None,
    json_response: JsonHook | None = None,
    stream: StreamHook | None = None,
    headers: HeaderHook | None = None,
) -> Callable[..., Any]:
    """Wrap `app`; hooks apply only to requests whose path matches the regex `path` (and `method`)."""

    def wsgi(environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (path and not re.search(path, environ.get("PATH_INFO", ""))) or (
            method and environ.get("REQUEST_METHOD") != method
        ):
            return app(environ, start_response)
        if intercept is not None:
            answer = intercept(environ)
            if answer is not None:
                code, hdrs, body = answer
                start_response(status_line(code), hdrs + [("Content-Length", str(len(body)))])
                return [body]
        if request is not None:
            _rewrite_request(environ, request)
        captured: dict[str, Any] = {}

        def capture(
            status: str, hdrs: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(hdrs)
            return lambda data: None

        result = app(environ, capture)
        hdrs = captured["headers"]
        ctype = next((v for k, v in hdrs if k.lower() == "content-type"), "").split(";")[0].strip()
        if headers is not None:
            hdrs = headers(environ, hdrs)
        if ctype == "text/event-stream" and stream is not None:
            start_response(captured["status"], [h for h in hdrs if h[0].lower() != "content-length"])
            return _closing(stream(environ, iter(result)), result)
        if ctype == "application/json" and json_response is not None:
            raw = b"".join(result)
            _close(result)
            code = int(captured["status"].split()[0])
            new_code, body = json_response(environ, code, json.loads(raw) if raw.strip() else None)
            data = b"" if body is NO_BODY else body if isinstance(body, bytes) else json.dumps(body).encode()
            hdrs = [h for h in hdrs if h[0].lower() != "content-length"] + [
                ("Content-Length", str(len(data)))
            ]
            if body is NO_BODY:
                hdrs = [h for h in hdrs if h[0].lower() != "content-type"]
            start_response(status_line(new_code), hdrs)
            return [data]
        start_response(captured["status"], hdrs)
        return result

    return wsgi


def chain(app: Callable[..., Any], *wrappers: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Any:
    for w in wrappers:
        app = w(app)
    return app


def _rewrite_request(environ: Environ, hook: RequestHook) -> None:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(length) if length else b""
    is_json = environ.get("CONTENT_TYPE", "").startswith("application/json")
    try:  # a body that is not JSON (fuzzing sends such) goes through untouched
        body: Any = json.loads(raw) if is_json and raw.strip() else NO_BODY
    except ValueError:
        body = NO_BODY
    query = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
    new_body = hook(environ, body, query)
    environ["QUERY_STRING"] = urlencode(query)
    data = raw if new_body is NO_BODY or not is_json else json.dumps(new_body).encode()
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))


def _close(result: Any) -> None:
    close = getattr(result, "close", None)
    if close:
        close()


def _closing(gen: Iterator[bytes], result: Any) -> Iterator[bytes]:
    try:
        yield from gen
    finally:
        _close(result)


def frames(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-cut an SSE byte stream into whole frames (each ending with a blank line), lazily."""
    buf = b""
    for chunk in chunks:
        buf += chunk
        while b"\n\n" in buf:
            frame, buf = buf.split(b"\n\n", 1)
            yield frame + b"\n\n"
    if buf:
        yield buf


def frame_json(frame: bytes) -> Any:
    """The JSON of a `data: ...` frame, or None."""
    text = frame.decode()
    if not text.startswith("data:"):
        return None
    try:
        return json.loads(text[5:].strip())
    except ValueError:
        return None


def data_frame(payload: Any) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def map_frames(fn: Callable[[Any], Any]) -> StreamHook:
    """A stream hook that rewrites each data frame's JSON (return None to drop the frame)."""

    def hook(environ: Environ, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            payload = frame_json(frame)
            if payload is None:
                yield frame
                continue
            new = fn(payload)
            if new is not None:
                yield data_frame(new)

    return hook
