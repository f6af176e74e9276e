"""Streaming answers (SSE framing, event grammar, pacing, stop)."""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
    _stream_bytes,
)
from tests.conformance.harness import mock_app
from tests.conformance.rewrite import data_frame, frame_json, frames, map_frames, wrap


def sse_frames_not_separated(app: App) -> App:
    def join(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            yield frame[:-1] if frame.endswith(b"\n\n") else frame  # one newline instead of a blank line
        yield b"\n"

    return _stream_bytes(join)(app)


def missing_terminal_event(app: App) -> App:
    return wrap(app, stream=map_frames(lambda p: None if p.get("event") == "message_end" else p))


def ids_drifting(app: App) -> App:
    counter = itertools.count()

    def drift(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("event") == "message" and next(counter) % 5 == 3:
            p["id"] = p["message_id"] = str(uuid.uuid4())
        return p

    return wrap(app, stream=map_frames(drift))


def buffered_stream(app: App) -> App:
    def buffer(chunks: Iterator[bytes]) -> Iterator[bytes]:
        yield b"".join(chunks)

    return _stream_bytes(buffer)(app)


def stalled_stream(app: App) -> App:
    def stall(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for n, frame in enumerate(frames(chunks)):
            if n == 3:
                time.sleep(6)  # longer than the suite's read timeout (2 s in the gallery)
                return
            yield frame

    return _stream_bytes(stall)(app)


def stream_piece_altered(app: App) -> App:
    counter = itertools.count()

    def alter(p: dict[str, Any]) -> dict[str, Any]:
        if p.get("event") == "message" and next(counter) == 2:
            p["answer"] = p["answer"].upper() + "!"
        return p

    return wrap(app, stream=map_frames(alter))


def event_after_end(app: App) -> App:
    def extra(chunks: Iterator[bytes]) -> Iterator[bytes]:
        last = None
        for frame in frames(chunks):
            payload = frame_json(frame)
            if payload and payload.get("event") == "message":
                last = payload
            yield frame
        if last:
            yield b"data: " + json.dumps({**last, "answer": " (late)"}).encode() + b"\n\n"

    return _stream_bytes(extra)(app)


def stream_times_in_milliseconds(app: App) -> App:
    """Every event's created_at in milliseconds (a JavaScript server's Date.now())."""

    def millis(p: dict[str, Any]) -> dict[str, Any]:
        if isinstance(p.get("created_at"), int):
            p["created_at"] *= 1000
        return p

    return wrap(app, stream=map_frames(millis))


def stream_as_text_plain(app: App) -> App:
    def plain(env: Any, hdrs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [
            (k, "text/plain; charset=utf-8" if k.lower() == "content-type" and "event-stream" in v else v)
            for k, v in hdrs
        ]

    return wrap(app, path=r"/v1/chat-messages$", headers=plain)


def stop_not_implemented(app: App) -> App:
    return wrap(
        app,
        path=r"/v1/chat-messages/[^/]+/stop$",
        intercept=lambda env: (404, [("Content-Type", "text/html")], b"<h1>Not Found</h1>"),
    )


def stream_error_hidden(app: App) -> App:
    """A refused streaming request answers 200 with an `error` event that says 500, not the real 404."""

    def answer(env: Any, start_response: Any) -> Any:
        seen: dict[str, str] = {}

        def sr(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            if status.startswith("404") and env.get("PATH_INFO", "").endswith("/chat-messages"):
                return start_response("200 OK", [("Content-Type", "text/event-stream")])
            return start_response(status, hdrs, exc_info)

        result = app(env, sr)
        if seen.get("status", "").startswith("404") and env.get("PATH_INFO", "").endswith("/chat-messages"):
            event = {"event": "error", "status": 500, "code": "internal_server_error", "message": "failed"}
            return [b"data: " + json.dumps(event).encode() + b"\n\n"]
        return result

    return answer


def crlf_sse(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.replace(b"\n", b"\r\n")


def cr_sse(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.replace(b"\n", b"\r")


def keepalive_comments(chunks: Iterator[bytes]) -> Iterator[bytes]:
    yield b": connected\n\n"
    for frame in frames(chunks):
        yield b": keep-alive\n\n" + frame


def pings(chunks: Iterator[bytes]) -> Iterator[bytes]:
    for frame in frames(chunks):
        yield b"event: ping\n\n" + frame


def tiny_writes(chunks: Iterator[bytes]) -> Iterator[bytes]:
    sizes = itertools.cycle([1, 2, 3, 5, 7])
    for chunk in chunks:
        while chunk:
            n = next(sizes)
            yield chunk[:n]
            chunk = chunk[n:]


def multiline_data(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """JSON split over several data: lines (the parser joins them with newlines: still JSON)."""
    for frame in frames(chunks):
        payload = frame_json(frame)
        if payload is None:
            yield frame
            continue
        lines = json.dumps(payload, indent=1).split("\n")
        yield "".join(f"data: {line}\n" for line in lines).encode() + b"\n"


def _base(payload: dict[str, Any]) -> dict[str, Any]:
    """The fields every event of one answer shares (ChatEventBase)."""
    keys = ("task_id", "message_id", "conversation_id", "created_at")
    return {k: payload[k] for k in keys if k in payload}


def _events_around_answer(
    before: Callable[[dict[str, Any]], list[dict[str, Any]]],
    between: Callable[[dict[str, Any], int], list[dict[str, Any]]],
    before_end: Callable[[dict[str, Any]], list[dict[str, Any]]],
    after_end: Callable[[dict[str, Any]], list[dict[str, Any]]],
) -> Callable[[App], App]:
    """A stream hook adding events before the first piece, after each piece, around message_end."""

    def hook(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        pieces = 0
        for frame in frames(chunks):
            payload = frame_json(frame)
            kind = payload.get("event") if isinstance(payload, dict) else None
            if kind == "message" and pieces == 0:
                yield from map(data_frame, before(payload))
            if kind == "message_end":
                yield from map(data_frame, before_end(payload))
            yield frame
            if kind == "message":
                pieces += 1
                yield from map(data_frame, between(payload, pieces))
            if kind == "message_end":
                yield from map(data_frame, after_end(payload))

    return lambda app: wrap(app, path=r"/v1/chat-messages$", stream=hook)


AUDIO = base64.b64encode(b"ID3\x03\x00fake mp3 frame").decode()


def _tts(p: dict[str, Any]) -> dict[str, Any]:
    return {"event": "tts_message", **_base(p), "audio": AUDIO}


tts_after_message_end = _events_around_answer(
    before=lambda p: [],
    between=lambda p, n: [_tts(p)] if n % 7 == 0 else [],
    before_end=lambda p: [],
    after_end=lambda p: [_tts(p), _tts(p), {"event": "tts_message_end", **_base(p), "audio": ""}],
)


def _workflow(p: dict[str, Any], event: str, data: dict[str, Any]) -> dict[str, Any]:
    run_id = "wr-" + str(p.get("task_id", ""))
    return {"event": event, **_base(p), "workflow_run_id": run_id, "data": data}


def _node(p: dict[str, Any], event: str, node: str, index: int, finished: bool) -> dict[str, Any]:
    t = int(p.get("created_at", 0))
    data: dict[str, Any] = {
        "id": f"exec-{node}",
        "node_id": node,
        "node_type": node,
        "title": node.title(),
        "index": index,
        "predecessor_node_id": None,
        "inputs": {},
        "created_at": t,
    }
    if finished:
        data.update({"status": "succeeded", "elapsed_time": 0.01, "finished_at": t, "outputs": {}})
    return _workflow(p, event, data)


def _workflow_finished(p: dict[str, Any]) -> dict[str, Any]:
    t = int(p.get("created_at", 0))
    data = {
        "id": "wr-" + str(p.get("task_id", "")),
        "workflow_id": "wf-1",
        "status": "succeeded",
        "outputs": {"answer": "..."},
        "error": None,
        "elapsed_time": 0.5,
        "total_tokens": 42,
        "total_steps": 3,
        "created_at": t,
        "finished_at": t,
    }
    return _workflow(p, "workflow_finished", data)


def _workflow_start(p: dict[str, Any]) -> list[dict[str, Any]]:
    t = int(p.get("created_at", 0))
    started = {"id": "wr-" + str(p.get("task_id", "")), "workflow_id": "wf-1", "inputs": {}, "created_at": t}
    return [
        _workflow(p, "workflow_started", started),
        _node(p, "node_started", "start", 1, False),
        _node(p, "node_finished", "start", 1, True),
        _node(p, "node_started", "answer", 2, False),
    ]


def _as_chatflow(make: Callable[[App], App]) -> Callable[[App], App]:
    """The app says what its streams are: a chatflow (advanced-chat) in GET /info."""

    def mode(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            body["mode"] = "advanced-chat"
        return code, body

    return lambda app: wrap(make(app), path=r"/v1/info$", json_response=mode)


workflow_events = _as_chatflow(
    _events_around_answer(
        before=_workflow_start,
        between=lambda p, n: [],
        before_end=lambda p: [_node(p, "node_finished", "answer", 2, True), _workflow_finished(p)],
        after_end=lambda p: [],
    )
)
workflow_finished_after_end = _as_chatflow(
    _events_around_answer(
        before=_workflow_start,
        between=lambda p, n: [],
        before_end=lambda p: [_node(p, "node_finished", "answer", 2, True)],
        after_end=lambda p: [_workflow_finished(p)],
    )
)
unknown_event_types = _events_around_answer(
    before=lambda p: [{"event": "parallel_branch_started", **_base(p), "data": {"branch": 1}}],
    between=lambda p, n: [{"event": "text_replace", **_base(p), "data": {"text": "?"}}] if n == 3 else [],
    before_end=lambda p: [],
    after_end=lambda p: [{"event": "usage_report", "tokens": 42}],
)

tts_end_before_message_end = _events_around_answer(
    before=lambda p: [],
    between=lambda p, n: [],
    before_end=lambda p: [_tts(p), {"event": "tts_message_end", **_base(p), "audio": ""}],
    after_end=lambda p: [_tts(p)],
)


# Streams of moderate duration. At 2 ms a piece (ttft 20 ms) the suite's former stream ("Can you
# explain why?", 59 pieces) lasted ~0.14 s, under the 0.2 s below which streaming.incremental cannot
# judge, so buffering there went unseen (skipped); the long answer the check now asks for (125 pieces)
# lasts >= 0.27 s and is judged.
FAST_PACING = {"ttft_ms": 20.0, "token_interval_ms": 2.0}


LONG_QUERY = "Tell me the plot of Die Hard"


def _fast_mock(make: Callable[[App], App]) -> Callable[[App], App]:
    return lambda app: make(mock_app(**FAST_PACING))


def short_answers(app: App) -> App:
    """A correct server that answers the request for a long answer briefly (a short, fast stream)."""

    def shorten(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and body.get("query") == LONG_QUERY:
            body["query"] = "hello"
            # unpaced, so it stays far under the suite's 0.2 s even on a loaded machine (paced, it
            # once took longer there, and was judged, and passed: not what this variant shows)
            env["HTTP_X_MOCK_TTFT_MS"] = env["HTTP_X_MOCK_TOKEN_INTERVAL_MS"] = "0"
            env["HTTP_X_MOCK_JITTER_MS"] = "0"
        return body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", request=shorten)


def slow_first_token(app: App) -> App:
    """A correct server that thinks for 0.8 s (a tool call, a slow model's first token), then sends the
    long answer's pieces as fast as it generates them, and says so (usage.time_to_generate ~0)."""

    def think_then_rush(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and body.get("query") == LONG_QUERY:
            env["HTTP_X_MOCK_TTFT_MS"] = "800"
            env["HTTP_X_MOCK_TOKEN_INTERVAL_MS"] = env["HTTP_X_MOCK_JITTER_MS"] = "0"
        return body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", request=think_then_rush)


BROKEN: list[Variant] = [
    Variant(
        "sse_frames_not_separated",
        "frames end with one newline, not a blank line",
        "streaming",
        sse_frames_not_separated,
        ("streaming.events_valid",),
    ),
    Variant(
        "missing_terminal_event",
        "no message_end",
        "streaming",
        missing_terminal_event,
        ("streaming.terminal_event",),
    ),
    Variant(
        "ids_drifting", "message id changes mid-stream", "streaming", ids_drifting, ("streaming.one_message",)
    ),
    Variant(
        "buffered_stream",
        "the whole stream is sent at the end",
        "streaming",
        buffered_stream,
        ("streaming.incremental",),
    ),
    Variant(
        "stalled_stream",
        "the stream stops sending and never ends",
        "streaming",
        stalled_stream,
        ("streaming.ends",),
    ),
    Variant(
        "stream_piece_altered",
        "a streamed piece differs from the stored answer",
        "streaming",
        stream_piece_altered,
        ("streaming.answer_matches_history",),
    ),
    Variant(
        "event_after_end",
        "a message event after message_end",
        "streaming",
        event_after_end,
        ("streaming.nothing_after_terminal",),
    ),
    Variant(
        "stream_as_text_plain",
        "SSE served as text/plain",
        "streaming",
        stream_as_text_plain,
        ("streaming.content_type",),
    ),
    Variant(
        "stop_not_implemented",
        "stop answers an HTML 404",
        "streaming",
        stop_not_implemented,
        ("streaming.stop", "streaming.stop_unknown_task"),
    ),
    Variant(
        "stream_error_hidden",
        "a refused stream says 200 + error 500",
        "streaming",
        stream_error_hidden,
        ("streaming.error_answer",),
    ),
    Variant(
        "stream_times_in_milliseconds",
        "created_at inside the stream events in milliseconds",
        "streaming",
        stream_times_in_milliseconds,
        ("streaming.timestamps",),
    ),
    Variant(
        "tts_end_before_message_end",
        "tts_message_end sent before message_end, audio after it",
        "streaming",
        tts_end_before_message_end,
        ("streaming.nothing_after_terminal",),
    ),
    Variant(
        "buffered_fast_stream",
        "a fast (2 ms a piece) stream buffered and sent at the end",
        "streaming",
        _fast_mock(buffered_stream),
        ("streaming.incremental",),
    ),
]

GOOD: list[Variant] = [
    Variant("crlf_sse", "SSE lines end with CRLF", "streaming", _stream_bytes(crlf_sse)),
    Variant("cr_sse", "SSE lines end with CR", "streaming", _stream_bytes(cr_sse)),
    Variant(
        "keepalive_comments", "SSE comments between frames", "streaming", _stream_bytes(keepalive_comments)
    ),
    Variant("pings", "event: ping frames between frames", "streaming", _stream_bytes(pings)),
    Variant("tiny_writes", "frames split across 1-7 byte writes", "streaming", _stream_bytes(tiny_writes)),
    Variant(
        "multiline_data", "JSON spread over several data: lines", "streaming", _stream_bytes(multiline_data)
    ),
    Variant("fast_stream", "pieces streamed 2 ms apart", "streaming", _fast_mock(lambda app: app)),
    Variant("short_stream", "a short answer streamed fast (skipped, not failed)", "streaming", short_answers),
    Variant(
        "slow_first_token",
        "a long wait for the first piece, then the pieces as fast as they are generated (stated in usage)",
        "streaming",
        slow_first_token,
    ),
    Variant(
        "tts_after_message_end",
        "text-to-speech on: tts_message among the pieces and after message_end, then tts_message_end",
        "streaming",
        tts_after_message_end,
    ),
    Variant(
        "workflow_events",
        "a chatflow: workflow and node events around the answer, workflow_finished before message_end",
        "streaming",
        workflow_events,
    ),
    Variant(
        "workflow_finished_after_end",
        "a chatflow that sends workflow_finished just after message_end",
        "streaming",
        workflow_finished_after_end,
    ),
    Variant(
        "unknown_event_types",
        "event types the contract does not know, before, among and after the answer",
        "streaming",
        unknown_event_types,
    ),
]
