"""streaming: SSE answers parsed byte by byte (WHATWG rules), each event against the contract's item schema.

One streamed answer is judged by several checks: content type, completion within the timeouts,
every event valid, one message id across the stream, exactly one terminal event and nothing after
it, the pieces equal to the answer history returns, and incremental delivery (a server that
buffers the whole answer and sends it at the end is caught).

The judged stream asks for a long answer (the query of fixtures/answers.yaml with the longest canned
answer; on a real LLM, a request for a detailed answer), so buffering is visible even on a fast server.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import contract
from conformance.chatapp import ChatApp, random_id, valid_inputs
from conformance.checking import SHOULD, check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.data import fixtures_dir, load_yaml
from conformance.foreign import stop_at_first_piece
from conformance.grammar import PIECE, TRAILER, grammar
from conformance.grammar import TERMINAL as TERMINAL_ROLE
from conformance.http import Exchange, StreamResult
from conformance.longstream import LongStream
from conformance.recall import Recall, compare
from conformance.run import Run
from conformance.runs import run_problems
from conformance.sse import SseEvent
from conformance.timestamps import PLAUSIBLE, plausible, timestamps

SEND = contract.operation("sendChatMessage")
TERMINAL = grammar().types("terminal")  # from the contract's x-stream-role annotations
GRAMMAR_RULE = (
    "ChatStreamEvent x-stream-role: exactly one terminal event; pieces, replacements and progress "
    "before it; trailers (tts_message, workflow_finished) before or after it; a final event "
    "(tts_message_end) after it and last; event types the contract does not know anywhere"
)
RUN_RULE = "ChatStreamEvent x-run (the grammar of a workflow run and of an agent's thoughts)"
MIN_JUDGED_SECONDS = 0.2
# An answer in fewer pieces cannot tell streaming from an answer produced whole: a workflow whose
# Answer node echoes its inputs sends its text in two pieces 1 ms apart (SPEC_NOTES S1).
MIN_JUDGED_PIECES = 3


@pytest.fixture(scope="module")
def streamed(long_stream: LongStream) -> StreamResult:
    return long_stream.result()


def _complete(s: StreamResult) -> StreamResult:
    expect_status(s.exchange, 200, expected="200 text/event-stream")
    expect(
        s.exchange.content_type == "text/event-stream",
        f"content type {s.exchange.content_type!r}, wanted text/event-stream",
        s,
    )
    if not s.complete:
        fail(f"the stream did not end properly: {s.end_reason}", s)
    return s


def _event_type(event: SseEvent) -> Any:
    """The JSON `event` field of a data event (None when it is not a JSON object)."""
    try:
        value = json.loads(event.data or "")
    except ValueError:
        return None
    return value.get("event") if isinstance(value, dict) else None


def _payloads(s: StreamResult) -> list[dict[str, Any]]:
    out = []
    for e in s.data_events():
        try:
            value = json.loads(e.data or "")
        except ValueError:
            fail(f"a data event is not JSON: {e.data[:120] if e.data else ''!r}", s)
        if not isinstance(value, dict):
            fail(f"a data event is not a JSON object: {e.data!r}", s)
        out.append(value)
    return out


@check(
    "streaming.content_type",
    "a streaming answer is 200 text/event-stream",
    contract="sendChatMessage, streaming: the answer is a 200 `text/event-stream`",
)
def test_content_type(streamed: StreamResult) -> None:
    expect_status(streamed.exchange, 200, expected="200 text/event-stream")
    expect(
        streamed.exchange.content_type == "text/event-stream",
        f"content type {streamed.exchange.content_type!r}, wanted text/event-stream",
        streamed,
    )


@check(
    "streaming.ends",
    "the stream ends (closes) within the read and total timeouts",
    contract=(
        "sendChatMessage, streaming: the stream ends with exactly one terminal event (`message_end`"
        " or `error`) and the server closes it"
    ),
)
def test_ends(streamed: StreamResult) -> None:
    _complete(streamed)


@check(
    "streaming.events_valid",
    "every event matches the contract's itemSchema and its data's contentSchema",
    contract=(
        "sendChatMessage, streaming: each event is one frame `data: <json>\\n\\n` whose JSON field "
        "`event` names the event type (ChatStreamItem); `event: ping` keep-alives and comments are "
        "allowed"
    ),
)
def test_events_valid(streamed: StreamResult) -> None:
    _complete(streamed)
    schema = SEND.item_schema(200)
    if schema is None:
        fail("the contract has no itemSchema for sendChatMessage")
    expect(streamed.events, "the stream carried no events", streamed)
    for i, event in enumerate(streamed.events):
        errors = contract.item_errors(schema, event.item())
        if errors:
            fail(
                f"event {i} {event.item()!r:.200} is invalid: {'; '.join(errors)}",
                streamed,
                expected="ChatStreamItem (data: JSON ChatStreamEvent, or an `event: ping` keep-alive)",
            )


@check(
    "streaming.one_message",
    "every event carries the same message id, conversation id and created_at",
    contract=(
        "sendChatMessage, streaming: every `message` event carries a piece of the answer and the "
        "same `id`, `conversation_id` and `created_at`"
    ),
)
def test_one_message(streamed: StreamResult) -> None:
    payloads = _payloads(_complete(streamed))
    g = grammar()
    pieces = [p for p in payloads if g.role(p.get("event")) == PIECE]
    messages = pieces + [p for p in payloads if p.get("event") == "message_end"]
    expect(pieces, "no answer pieces (message events) in the stream", streamed)
    for field in ("id", "conversation_id", "task_id"):
        values = {p.get(field) for p in messages if field in p}
        expect(len(values) <= 1, f"{field} changes within one stream: {sorted(map(str, values))}", streamed)
    created = {p.get("created_at") for p in pieces}
    expect(len(created) <= 1, f"created_at changes within one stream: {sorted(map(str, created))}", streamed)
    ids = {p.get("message_id") for p in messages if "message_id" in p} | {p.get("id") for p in messages}
    expect(len(ids - {None}) <= 1, f"message_id and id disagree: {sorted(map(str, ids))}", streamed)


@check(
    "streaming.timestamps",
    "every time inside the events is plausible unix seconds (not milliseconds, not in the future)",
    contract=(
        "ChatStreamEvent: every field typed UnixSeconds (`created_at` on each event, `created_at` and "
        "`finished_at` in workflow and node data, ...) is Unix time in whole seconds"
    ),
)
def test_timestamps(streamed: StreamResult) -> None:
    payloads = _payloads(_complete(streamed))
    g = grammar()
    judged = 0
    for i, p in enumerate(payloads):
        schema = g.schema(p.get("event"))
        if schema is None:  # a type the contract does not know: ignored
            continue
        for where, value in dict(timestamps(schema, p)).items():
            judged += 1
            expect(
                plausible(value),
                f"event {i} `{p.get('event')}`: {where} {value!r} is not plausible unix seconds",
                streamed,
                expected=PLAUSIBLE,
            )
    if not judged:
        pytest.skip("no event of the stream carries a time the contract defines (2023 era)")


@check(
    "streaming.terminal_event",
    "the stream ends with exactly one terminal event (message_end or error)",
    contract=(
        "sendChatMessage, streaming: the stream ends with exactly one terminal event, `message_end`"
        " on success or `error` on failure"
    ),
)
def test_terminal_event(streamed: StreamResult) -> None:
    payloads = _payloads(_complete(streamed))
    terminals = grammar().terminals(p.get("event") for p in payloads)
    expect(terminals, f"no terminal event ({' or '.join(TERMINAL)}): the stream just stopped", streamed)
    expect(len(terminals) == 1, f"{len(terminals)} terminal events", streamed)


@check(
    "streaming.nothing_after_terminal",
    "events stand where the stream grammar puts them (nothing but trailers after the terminal event)",
    contract=(
        "sendChatMessage, streaming: after the terminal event only trailer events (`tts_message`, "
        "`workflow_finished`), then at most the final `tts_message_end`; every frame ends with a "
        "blank line"
    ),
)
def test_nothing_after_terminal(streamed: StreamResult) -> None:
    payloads = _payloads(_complete(streamed))
    problems = grammar().violations(p.get("event") for p in payloads)
    expect(not problems, "; ".join(problems[:3]), streamed, expected=GRAMMAR_RULE)
    expect(
        not streamed.pending_at_end, "the stream ends with an unterminated frame (no blank line)", streamed
    )


@check(
    "streaming.run",
    "a workflow run's nodes, iterations and loops, and an agent's thoughts, hold together",
    contract=(
        "ChatStreamEvent x-run: nodes, iterations and loops open and close in pairs by id, rounds step "
        "in order, a node of an iteration runs while it is open, every event names the stream's one "
        "workflow run; a thought sent again keeps its position, a new one comes after the others"
    ),
)
def test_run(streamed: StreamResult) -> None:
    payloads = _payloads(_complete(streamed))
    ended_well = any(p.get("event") == "message_end" for p in payloads)
    problems, judged = run_problems(payloads, ended_well)
    if not judged:
        pytest.skip("not exercised: the app's stream carries no workflow run and no agent thoughts")
    expect(
        not problems,
        f"{len(problems)} event(s) out of the run's grammar: " + "; ".join(problems[:3]),
        streamed,
        expected=RUN_RULE,
    )


@check(
    "streaming.app_mode",
    "the stream carries only the events of the app's own mode (GET /info)",
    contract=(
        "ChatStreamEvent x-app-modes: each event type belongs to the streams of the modes it lists; "
        "an app whose stream carries another mode's events misstates its mode in GET /info"
    ),
)
def test_app_mode(streamed: StreamResult, app: ChatApp) -> None:
    if app.mode is None:
        pytest.skip("the app's mode is unknown (no GET /info in the judged era, or no mode in it)")
    payloads = _payloads(_complete(streamed))
    foreign: dict[str, Any] = {}
    for p in payloads:
        kind = grammar().kinds.get(event) if isinstance(event := p.get("event"), str) else None
        if kind is not None and kind.modes and app.mode not in kind.modes:
            foreign.setdefault(kind.name, kind.modes)
    expect(
        not foreign,
        f"GET /info says mode {app.mode!r}, but the stream carries "
        + ", ".join(f"`{name}` ({'/'.join(modes)} only)" for name, modes in foreign.items()),
        streamed,
        expected="ChatStreamEvent x-app-modes: the events of the app's mode only",
    )


@check(
    "streaming.auto_play",
    "the stream speaks (tts_message) exactly when /parameters turns text-to-speech auto-play on",
    level=SHOULD,
    contract=(
        "AppParameters.text_to_speech.autoPlay `enabled`: the stream carries the spoken answer in "
        "`tts_message` events; otherwise it carries none"
    ),
)
def test_auto_play(streamed: StreamResult, app: ChatApp) -> None:
    setting = app.parameters.get("text_to_speech")
    if not isinstance(setting, dict):
        pytest.skip("the app's /parameters has no text_to_speech setting (2023 era)")
    promised = setting.get("enabled") is True and setting.get("autoPlay") == "enabled"
    payloads = _payloads(_complete(streamed))
    # the audio events: trailers that carry `audio` (tts_message; workflow_finished is a trailer too)
    spoken = [p for p in payloads if grammar().role(p.get("event")) == TRAILER and p.get("audio")]
    expect(
        bool(spoken) == promised,
        "/parameters turns auto-play on, but the stream carries no audio"
        if promised
        else f"the stream carries {len(spoken)} audio event(s), but /parameters does not turn auto-play on",
        streamed,
    )


@check(
    "streaming.answer_matches_history",
    "the concatenated pieces equal the answer history returns",
    contract=(
        "sendChatMessage, streaming: the concatenated pieces equal the `answer` that `GET "
        "/messages` returns afterwards"
    ),
)
def test_answer_matches_history(streamed: StreamResult, app: ChatApp, run: Run) -> None:
    payloads = _payloads(_complete(streamed))
    g = grammar()
    pieces = [p for p in payloads if g.role(p.get("event")) == PIECE]
    expect(pieces, "no answer pieces (message events) in the stream", streamed)
    answer = g.answer(payloads)
    conversation_id, message_id = pieces[0].get("conversation_id"), pieces[0].get("id")
    ex = app.messages(run.user("stream"), str(conversation_id), limit=100)
    expect_status(ex, 200)
    body = ex.json() or {}
    stored = [m for m in body.get("data", []) if isinstance(m, dict) and m.get("id") == message_id]
    expect(stored, f"message {message_id} of the stream is not in the conversation's history", ex)
    expect(
        stored[0].get("answer") == answer,
        f"history answer {stored[0].get('answer')!r:.120} differs from the streamed pieces {answer!r:.120}",
        streamed,
        ex,
    )


def provoking_queries() -> list[str]:
    """The queries the project's apps answer with thoughts, files or a replaced answer
    (fixtures/apps: data, read as any server's client would ask; a server that answers them plainly
    exercises nothing, and streaming.history_keeps_stream says so)."""
    folder = fixtures_dir() / "apps"
    queries: list[str] = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        for reply in (load_yaml(f"apps/{path.name}") or {}).get("replies") or []:
            if (
                isinstance(reply, dict)
                and isinstance(reply.get("query"), str)
                and reply["query"] not in queries
            ):
                queries.append(reply["query"])
    return queries


@pytest.fixture(scope="module")
def recalled(
    app: ChatApp, run: Run, streamed: StreamResult
) -> list[tuple[StreamResult, Recall, Exchange | None]]:
    """Each judged stream (the long answer, then the provoking queries) with its history item's verdict."""
    user = run.user("stream")
    streams = [streamed] + [app.stream(user, q) for q in provoking_queries()]
    out: list[tuple[StreamResult, Recall, Exchange | None]] = []
    for s in streams:
        payloads = _payloads(_complete(s))
        ids = [p.get("id") for p in payloads if grammar().role(p.get("event")) in (PIECE, TERMINAL_ROLE)]
        conversation = next((p.get("conversation_id") for p in payloads if p.get("conversation_id")), None)
        message_id = next((i for i in ids if isinstance(i, str)), None)
        if not conversation or not message_id:
            out.append((s, Recall(problems=["the stream names no conversation or message"]), None))
            continue
        ex = app.messages(user, str(conversation), limit=100)
        expect_status(ex, 200)
        item = next(
            (
                m
                for m in (ex.json() or {}).get("data", [])
                if isinstance(m, dict) and m.get("id") == message_id
            ),
            None,
        )
        if item is None:
            out.append(
                (s, Recall(problems=[f"message {message_id} of the stream is not in its history"]), ex)
            )
            continue
        out.append((s, compare(payloads, item), ex))
    return out


@check(
    "streaming.history_keeps_stream",
    "history keeps what the stream delivered: thoughts with their tools, files, a replaced answer",
    contract=(
        "ChatStreamEvent x-history: afterwards GET /messages holds each thought (position, thought, tool, "
        "observation as last sent) and each file the stream delivered, and the answer its pieces spell "
        "after a `message_replace`"
    ),
)
def test_history_keeps_stream(recalled: list[tuple[StreamResult, Recall, Exchange | None]]) -> None:
    facets = set().union(*(r.facets for _, r, _ in recalled))
    if not facets:
        pytest.skip(
            f"not exercised: none of the {len(recalled)} streams (the long answer and "
            f"{', '.join(repr(q) for q in provoking_queries())}) carried agent thoughts, files or a "
            "replaced answer"
        )
    for s, r, ex in recalled:
        expect(
            not r.problems,
            f"{len(r.problems)} thing(s) the stream delivered differ in history: "
            + "; ".join(r.problems[:3]),
            s,
            ex,
        )


def _stated_generation_seconds(data: list[SseEvent]) -> float | None:
    """Seconds from the first piece to the last as the server states them (`metadata.usage.
    time_to_generate` of the terminal event, Dify 1.12.1 on); None when it states nothing.

    A slow first token followed by a fast generation looks like buffering from outside; a server
    that says how long it generated is judged by that, not by the time before its first piece.
    """
    for event in reversed(data):  # message_end, maybe followed by trailers (tts_message, ...)
        try:
            value = json.loads(event.data or "")
        except ValueError:
            continue
        metadata = value.get("metadata") if isinstance(value, dict) else None
        usage = metadata.get("usage") if isinstance(metadata, dict) else None
        stated = usage.get("time_to_generate") if isinstance(usage, dict) else None
        if isinstance(stated, int | float) and not isinstance(stated, bool) and stated >= 0:
            return float(stated)
    return None


@check(
    "streaming.incremental",
    "events arrive as they are produced, not all at the end",
    contract=(
        "sendChatMessage, streaming: every `message` event carries a piece of the answer as it is produced"
    ),
)
def test_incremental(streamed: StreamResult) -> None:
    _complete(streamed)
    data = streamed.data_events()
    pieces = [e for e in data if grammar().role(_event_type(e)) == PIECE]
    if len(data) < 3 or len(pieces) < MIN_JUDGED_PIECES:
        pytest.skip(
            f"the answer to a request for a long answer came in {len(data)} data event(s) "
            f"({len(pieces)} message piece(s)): too few pieces to tell streaming from an answer "
            "produced at once"
        )
    stated = _stated_generation_seconds(data)
    if stated is not None:  # the server says how long it generated: pieces must spread over that
        if stated < MIN_JUDGED_SECONDS:
            pytest.skip(
                f"the server says it generated the answer in {stated:.3f} s (usage.time_to_generate), "
                f"under {MIN_JUDGED_SECONDS} s: too short to tell streaming from buffering"
            )
        window, over = stated, f"the server says it generated the answer over {stated:.2f} s"
    else:  # it does not say: the whole wait stands for it (SPEC_NOTES S1)
        window = data[-1].arrived - streamed.started
        if window < MIN_JUDGED_SECONDS:
            pytest.skip(
                f"the whole stream ({len(data)} data events) took {window:.3f} s, under "
                f"{MIN_JUDGED_SECONDS} s: too short to tell streaming from buffering"
            )
        over = f"the stream took {window:.2f} s"
    spread = data[-1].arrived - pieces[0].arrived
    expect(
        spread >= max(0.05, 0.1 * window),
        f"the first piece arrived {pieces[0].arrived - streamed.started:.2f} s after the request and "
        f"the last event {spread * 1000:.0f} ms later ({over}): the answer was buffered, not streamed",
        streamed,
        expected="pieces are sent as they are generated",
    )


@check(
    "streaming.error_answer",
    "a refused streaming request answers the error envelope or one `error` event",
    contract=(
        "sendChatMessage: an unknown `conversation_id` answers 404 `not_found`; a stream that "
        "already started ends with one terminal `error` event"
    ),
)
def test_error_answer(app: ChatApp, run: Run) -> None:
    s = app.client.stream(
        "POST",
        "/chat-messages",
        json_body={
            "inputs": valid_inputs(app.form),
            "query": "Which movie is the best?",
            "response_mode": "streaming",
            "conversation_id": random_id(),
            "user": run.user("stream"),
        },
    )
    if s.exchange.content_type != "text/event-stream":
        expect_error(s.exchange, SEND, 404, "not_found")
        return
    payloads = _payloads(_complete(s))
    errors = [p for p in payloads if p.get("event") == "error"]
    expect(errors, "an unknown conversation streamed without an error event", s)
    expect(errors[0].get("status") == 404, f"error event status {errors[0].get('status')}, wanted 404", s)
    problems = grammar().violations(p.get("event") for p in payloads)
    terminals = [payloads[i].get("event") for i in grammar().terminals(p.get("event") for p in payloads)]
    expect(
        terminals == ["error"] and not problems,
        f"the error event is not the stream's one terminal event: {'; '.join(problems[:2]) or terminals}",
        s,
        expected=GRAMMAR_RULE,
    )


@check(
    "streaming.stop",
    "stopping an in-flight answer succeeds and the stream still ends with its terminal event",
    contract=(
        'stopChatMessage: ends the in-flight streaming answer `task_id` (200 `{"result": '
        '"success"}`); the stream then ends with its terminal event'
    ),
)
def test_stop(app: ChatApp, run: Run) -> None:
    run.spend(1, "a streamed answer to stop")
    user = run.user("stream")
    stop_once, stops = stop_at_first_piece(app.client, user)

    body = {
        "inputs": valid_inputs(app.form),
        "query": "Can you explain why?",
        "response_mode": "streaming",
        "conversation_id": "",
        "user": user,
    }
    s = app.client.stream("POST", "/chat-messages", json_body=body, on_event=stop_once)
    for event in s.json_events():
        if isinstance(event.get("conversation_id"), str):
            run.remember(user, event["conversation_id"])
            break
    if not stops:
        pytest.skip("no message event with a task_id arrived, so there was nothing to stop")
    expect_status(stops[0], 200)
    expect_json_body(stops[0], contract.operation("stopChatMessage"))
    payloads = _payloads(_complete(s))
    types = [p.get("event") for p in payloads]
    expect(grammar().terminals(types), "a stopped stream ended without a terminal event", s)
    problems = grammar().violations(types)
    expect(
        not problems,
        f"a stopped stream broke the stream grammar: {'; '.join(problems[:3])}",
        s,
        expected=GRAMMAR_RULE,
    )


@check(
    "streaming.stop_unknown_task",
    "stopping an unknown or finished task answers success (idempotent)",
    contract=(
        "stopChatMessage is idempotent: an unknown or already finished task also answers 200 "
        '`{"result": "success"}`'
    ),
)
def test_stop_unknown_task(app: ChatApp, run: Run) -> None:
    ex = app.client.call("POST", f"/chat-messages/{random_id()}/stop", json_body={"user": run.user("stream")})
    expect_status(ex, 200)
    expect_json_body(ex, contract.operation("stopChatMessage"))
