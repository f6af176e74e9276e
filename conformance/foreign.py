"""A stop request aimed at someone else's running answer: the owner's stream must go on.

Stop is idempotent and answers success for a task it does not know (A17), so its answer tells
nothing; what tells is the owner's stream. The same long answer is asked for twice, at the same
time: once untouched (the control: the run's long answer, conformance/longstream.py, which the
streaming area judges) and once by the owner while an intruder (another user, or another app's key)
asks to stop its task at the first piece. A stream cut to
under half of the control's pieces was stopped by the intruder (an answer's length varies, on a
model, far less than that). Used by isolation.stop and isolation.other_app[stopChatMessage].
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from conformance.chatapp import ChatApp, long_answer_query, valid_inputs
from conformance.checking import expect, expect_status
from conformance.grammar import PIECE, grammar
from conformance.http import Client, Exchange, StreamResult
from conformance.longstream import LongStream
from conformance.sse import SseEvent

MIN_CONTROL_PIECES = 6  # a shorter answer leaves no room to tell a cut stream from a whole one


@dataclass
class ForeignStop:
    control: StreamResult
    stopped: StreamResult
    stop: Exchange


def _pieces(s: StreamResult) -> int:
    return sum(1 for e in s.json_events() if grammar().role(e.get("event")) == PIECE)


def _stream(app: ChatApp, user: str, on_event: object = None) -> StreamResult:
    app.run.spend(1, "a streamed answer whose task another user or app tries to stop")
    body = {
        "inputs": valid_inputs(app.form),
        "query": long_answer_query(),
        "response_mode": "streaming",
        "conversation_id": "",
        "user": user,
    }
    s = app.client.stream("POST", "/chat-messages", json_body=body, on_event=on_event)  # type: ignore[arg-type]
    for event in s.json_events():
        if isinstance(event.get("conversation_id"), str):
            app.run.remember(user, event["conversation_id"])
            break
    return s


def stop_at_first_piece(client: Client, user: str) -> tuple[Callable[[SseEvent], None], list[Exchange]]:
    """An `on_event` callback that asks, as `user` through `client`, to stop the stream's task at its
    first answer piece (once), and the list its stop exchange lands in."""
    stops: list[Exchange] = []

    def stop_once(event: SseEvent) -> None:
        if stops or event.data is None:
            return
        try:
            payload = json.loads(event.data)
        except ValueError:
            return
        if (
            isinstance(payload, dict)
            and grammar().role(payload.get("event")) == PIECE
            and payload.get("task_id")
        ):
            stops.append(
                client.call("POST", f"/chat-messages/{payload['task_id']}/stop", json_body={"user": user})
            )

    return stop_once, stops


def stop_by_intruder(
    app: ChatApp, owner: str, intruder_client: Client, intruder: str, control: LongStream
) -> ForeignStop:
    """The run's long answer (the control) and, at the same time, the owner's stream of the same
    question with the intruder's stop at its first piece. Side by side, not one after the other: each
    is a whole long answer (4 s on the mock's default pacing). The control is another user's, so a
    server that serves one stream per user at a time is judged as fairly as any."""
    control.start()
    stop_once, stops = stop_at_first_piece(intruder_client, intruder)
    stopped = _stream(app, owner, stop_once)
    control_stream = control.result()
    expect_status(control_stream.exchange, 200, expected="sendChatMessage 200: a streamed answer")
    if _pieces(control_stream) < MIN_CONTROL_PIECES:
        pytest.skip(
            f"the long answer came in {_pieces(control_stream)} piece(s): too short to tell a stopped "
            "stream from a whole one"
        )
    if not stops:
        pytest.skip("no piece with a task_id arrived, so there was no task to aim a stop at")
    return ForeignStop(control_stream, stopped, stops[0])


def expect_owner_went_on(result: ForeignStop, who: str) -> None:
    """The intruder's stop was answered without a 5xx, and the owner's stream was not cut short."""
    stop = result.stop
    expect(
        stop.status is not None and stop.status < 500,
        f"{who}'s stop of the owner's task answered {stop.status}",
        stop,
        expected="stopChatMessage: a task of another user or app is not stopped (success or 404)",
    )
    whole, got = _pieces(result.control), _pieces(result.stopped)
    expect(
        result.stopped.complete and got * 2 >= whole,
        f"after {who} asked to stop the owner's task, the owner's answer ended after {got} piece(s) "
        f"(the same question untouched: {whole}): {who} stopped it",
        stop,
        result.stopped,
        expected="stopChatMessage stops only the calling user's own task of its own app",
    )
