"""Chat messages: send (blocking or streamed) and stop a streaming answer."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

from flask import Response

from mock_server import app_store, files_store, store
from mock_server.errors import ApiError
from mock_server.fixtures import UUID_NIL, form_controls
from mock_server.handlers.annotations import annotation_record, annotation_reply
from mock_server.handlers.base import (
    Call,
    bad_param,
    body_default,
    connection_dropper,
    json_response,
    not_found,
    sse_response,
)
from mock_server.handlers.files import (
    assistant_file_url,
    assistant_files,
    chat_files,
    message_end_files,
    store_assistant_files,
)
from mock_server.ids import app_id, end_user_id, random_ids
from mock_server.naming import derive_name
from mock_server.recording.replay import ReplayRequest
from mock_server.replies import Composer, Piece, Reply, RunContext
from mock_server.state import release_db
from mock_server.streaming import PIECE, Extra, StreamPlan, Wait, data_frame, paced, piece_template


def check_inputs(call: Call, inputs: dict[str, Any]) -> dict[str, Any]:
    """Enforce the app's user_input_form; returns every variable of the form, in its order: the
    value given, else the form's default, else null (what real servers store and answer, e.g.
    chatflow/031-conversations.json of the real Dify captures).

    Keys the form does not declare are dropped, as real servers do (they read only the form's
    variables), so they are neither refused nor stored, whatever their value.
    """
    out: dict[str, Any] = {}
    for kind, control in form_controls(call.app.parameters):
        name = control.get("variable")
        if not name:
            continue
        value = inputs.get(name)
        if value is None or value == "":
            if control.get("required"):
                raise bad_param(f"inputs.{name}", f"{name} is required in input form")
            if control.get("default") not in (None, ""):
                out[name] = control["default"]
            else:
                out[name] = value  # "" as given, else null
            continue
        if kind == "select":
            options = control.get("options") or []
            if value not in options:
                raise bad_param(
                    f"inputs.{name}", f"{name} in input form must be one of the following: {options}"
                )
        elif kind in {"text-input", "paragraph"}:
            if not isinstance(value, str):
                raise bad_param(f"inputs.{name}", f"{name} in input form must be a string")
            limit = control.get("max_length")
            if limit and len(value) > int(limit):
                raise bad_param(
                    f"inputs.{name}", f"{name} in input form must be less than {limit} characters"
                )
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise bad_param(f"inputs.{name}", f"{name} in input form must be a number")
        out[name] = value
    return out


def send_chat_message(call: Call) -> Response:
    body = call.body
    user = body["user"]
    query = body["query"]
    conv_id = body.get("conversation_id") or ""
    app = call.app
    streaming = body.get("response_mode", "blocking") == "streaming"
    vocabulary = call.state.vocabulary
    if not streaming and not vocabulary.answers_blocking(app.mode):
        message = BLOCKING_REFUSED.get(app.mode, f"{app.mode} apps answer in streaming mode only")
        raise ApiError(400, message, "invalid_param", param="response_mode")
    if streaming:
        # Let the streams already running send their due tokens before this one's set-up (under
        # gevent a yield to the loop; with threads, to the others): when a thousand chat requests
        # arrive at once, the running streams keep their schedule (1,000 streams: drift p99 -20%).
        # Its pooled connection goes back first: 10,000 streams yielding at once while each held
        # one opened 10,000 SQLite connections (4 files each) and a quarter of them failed.
        release_db()
        time.sleep(0)
    conn = call.db
    now = time.time()  # stored with its fraction (order); answered in whole seconds
    engine = call.state.engine
    message_id, task_id, new_id = random_ids(3)  # new_id: a new conversation's
    new_conversation = not conv_id
    if new_conversation:
        inputs = check_inputs(call, body.get("inputs") or {})
        conv_id = new_id
    common = {"task_id": task_id, "id": message_id, "message_id": message_id, "conversation_id": conv_id}
    # The answer is composed before the write lock is taken: every worker's writes queue for that
    # lock, so it must be held for the writes alone.
    annotation = annotation_reply(call, query)  # an enabled annotation reply first
    answer = annotation[1] if annotation else engine.answer(query)

    def run_context() -> RunContext:
        """A chatflow run's inputs and `sys.*` variables (read only by apps that run a workflow)."""
        ids = {"user": user, "end_user_id": end_user_id(call.key, user), "app_id": app_id(call.key)}
        if new_conversation:
            return RunContext(**ids, inputs=inputs, dialogue_count=1)
        conv = store.get_conversation(conn, call.key, user, conv_id)
        if conv is None:
            raise not_found("Conversation Not Exists.")
        count = store.count_messages(conn, conv_id)
        return RunContext(**ids, inputs=json.loads(conv["inputs"]), dialogue_count=count + 1)

    if app.recording is not None and not annotation:  # a recorded app answers from its recording
        reply = _replayed(call, common, int(now), streaming, new_conversation)
    else:
        reply = _compose(call, common, int(now), query, answer, run_context)
    name = None
    if new_conversation:
        name = (
            derive_name(query) if body_default(call, "auto_generate_name") else app.default_conversation_name
        )
    try:
        attached: list[dict[str, Any]] | ApiError = chat_files(call, user, body.get("files"))
    except ApiError as exc:  # told after the conversation check, as Dify
        attached = exc
    made = assistant_files(call, user, reply.files, int(now))
    introduction = app.parameters.get("opening_statement")

    def write(conn: sqlite3.Connection) -> None:
        """The message's rows (run by store.GroupCommit.write on the batch's connection: nothing here may
        touch the request's context, e.g. call.db)."""
        if name is None:
            conv = store.get_conversation(conn, call.key, user, conv_id)
            if conv is None:
                raise not_found("Conversation Not Exists.")
            store.touch_conversation(conn, conv_id, now)
            stored_inputs = json.loads(conv["inputs"])
        else:
            stored_inputs = inputs
            store.insert_conversation(
                conn,
                call.key,
                user,
                {
                    "id": conv_id,
                    "name": name,
                    "inputs": inputs,
                    "status": "normal",
                    "introduction": introduction,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        if isinstance(attached, ApiError):
            raise attached
        if annotation:
            app_store.count_hit(conn, annotation[0])
        store.insert_message(
            conn,
            call.key,
            user,
            {
                "id": message_id,
                "conversation_id": conv_id,
                "inputs": stored_inputs,
                "query": query,
                "answer": reply.answer,
                "created_at": int(now),
                "parent_message_id": UUID_NIL,
                "agent_thoughts": reply.agent_thoughts,
            },
        )
        files_store.insert_message_files(conn, call.key, message_id, attached)
        store_assistant_files(conn, call.key, user, message_id, made)

    release_db()  # a writer waiting for its batch holds no connection (the leader takes one)
    call.state.pool.writes.write(write)
    if not streaming:
        if reply.delay_s:  # a recorded answer comes as late as it came
            release_db()
            time.sleep(reply.delay_s)
        return json_response(
            {
                "event": "message",
                **common,
                "mode": app.mode,
                "answer": reply.answer,
                "metadata": reply.metadata or _metadata(call, query, reply.answer, annotation),
                "created_at": int(now),
            }
        )
    release_db()
    files = attached if isinstance(attached, list) else []  # (an ApiError was raised by the write)
    listed = message_end_files(call, call.state.vocabulary.listed_files.get(app.mode), files, reply.files)
    return sse_response(_chat_stream(call, user, common, int(now), query, reply, annotation, listed))


# Real servers' refusal of a blocking request by app mode (a ValueError: 400 invalid_param).
BLOCKING_REFUSED = {"agent-chat": "Agent Chat App does not support blocking mode"}


def _compose(
    call: Call,
    common: dict[str, Any],
    created_at: int,
    query: str,
    answer: str,
    context: Callable[[], RunContext],
) -> Reply:
    """The app's reply to `query`: its events, closing events, thoughts and files."""
    state = call.state
    head = {k: common[k] for k in ("task_id", "message_id", "conversation_id")}
    composer = Composer(
        call.app,
        state.vocabulary,
        state.assistant_files_dir,
        state.fixtures.voice,
        head,
        created_at,
        state.engine.pieces,
        call.pacing.interval_ms / 1000.0,
        context,
    )
    return composer.compose(query, answer, lambda made: assistant_file_url(call, made))


def _replayed(call: Call, common: dict[str, Any], created_at: int, streaming: bool, new: bool) -> Reply:
    """The recorded app's reply: its recording picks the exchange and replays it under this
    message's ids (mock_server/recording/replay.py); a recorded error is raised as it was."""
    body, user = call.body, call.body["user"]
    conv_id = common["conversation_id"]
    previous = None if new else store.last_query(call.db, conv_id)
    request = ReplayRequest(
        query=body["query"],
        inputs=body.get("inputs") or {},
        streaming=streaming,
        turn=1 if new else store.count_messages(call.db, conv_id) + 1,
        previous_query=previous,
        head={k: common[k] for k in ("task_id", "message_id", "conversation_id")},
        created_at=created_at,
        user=user,
        end_user_id=end_user_id(call.key, user),
        url_of=lambda made: assistant_file_url(call, made),
        pieces=call.state.engine.pieces,
        served_before=lambda exchanges: store.next_replay_turn(call.db, call.key, exchanges),
        release=release_db,
    )
    return call.app.recording.reply(request)


def _usage(call: Call, query: str, answer: str) -> dict[str, Any]:
    """The usage block; latency is the answer's planned duration at the request's pacing, the time
    to the first token its time to first token (none without pieces)."""
    engine = call.state.engine
    completion = engine.count_tokens(answer)
    latency = call.pacing.planned_s(completion)
    first = call.pacing.ttft_ms / 1000.0 if completion else 0.0
    return call.app.pricing.usage(engine.count_tokens(query), completion, latency, first)


def _metadata(call: Call, query: str, answer: str, annotation: tuple[str, str] | None) -> dict[str, Any]:
    """`metadata` of a blocking answer and of `message_end`, in Dify's order: the annotation that
    answered (null when none did), the cited passages, the usage (chatflow/004-chat_blocking.json)."""
    return {
        "annotation_reply": annotation_record(call, annotation[0]) if annotation else None,
        "retriever_resources": [],
        "usage": _usage(call, query, answer),
    }


def _chat_stream(
    call: Call,
    user: str,
    common: dict[str, Any],
    created_at: int,
    query: str,
    reply: Reply,
    annotation: tuple[str, str] | None,
    files: list[dict[str, Any]] | None,
):
    state = call.state
    task_id, message_id = common["task_id"], common["id"]
    fault = {**reply.fault, **call.fault}  # a recorded cut connection, unless the request asks otherwise
    state.stops.watch()
    mode = call.app.mode
    piece_event = state.vocabulary.piece_event(call.app.mode)
    piece_frame = piece_template(
        {
            "event": piece_event,
            **common,
            "answer": PIECE,
            **state.vocabulary.defaults.get(piece_event, {}),
            **reply.piece_fields,
            "created_at": created_at,
        }
    )

    def frames(payloads: list[dict[str, Any]]) -> list[bytes]:
        return [data_frame(p) for p in payloads if state.vocabulary.carries(p["event"], mode)]

    def end_frames(sent: list[str], stopped: bool) -> Sequence[bytes | Wait]:
        so_far = "".join(sent)
        recorded = reply.ending(so_far, stopped) if reply.ending else None
        if recorded is not None:  # a recording's own end, with its timing (Wait marks)
            return [data_frame(p) if isinstance(p, dict) else p for p in recorded]
        metadata = reply.metadata if reply.metadata and not stopped else None
        end = {
            "event": "message_end",
            **common,
            "created_at": created_at,
            "metadata": metadata or _metadata(call, query, so_far, annotation),
            **({"files": files} if state.vocabulary.end_has_files else {}),
        }
        return frames([*reply.closing(so_far, stopped), end, *reply.trailing(stopped)])

    def error_frames() -> list[bytes]:
        code, status, message = "internal_server_error", 500, "The server encountered an internal error."
        if fault.get("code"):  # error_after=K;code=C: that code, with the real server's message
            code = fault["code"]
            status, message = state.error_codes.get(code, [status, message])
        error = {
            "event": "error",
            "task_id": task_id,
            "message_id": message_id,
            "conversation_id": common["conversation_id"],
            "created_at": created_at,
            "status": int(fault.get("status", status)),
            "code": code,
            "message": fault.get("message") or message,
        }
        return frames([*reply.failing(), error])

    def on_done(sent: list[str], complete: bool) -> None:
        state.stops.forget(task_id, call.key, user)
        if not complete:  # stopped or cut by a fault: history shows what the client received
            conn = state.connection()
            try:
                so_far = "".join(sent)
                store.set_message_outcome(conn, message_id, answer=so_far, **reply.outcome_for(so_far))
            finally:
                state.pool.release(conn)

    recorded = reply.schedule is not None
    plan = StreamPlan(
        head=[],
        pieces=[
            item.text if isinstance(item, Piece) else Extra(data_frame(item.payload), item.replace, item.text)
            for item in reply.items
            # a recording's events (timed) were checked against the contract when it was loaded
            if isinstance(item, Piece) or recorded or state.vocabulary.carries(item.payload["event"], mode)
        ],
        schedule=reply.schedule,
        piece_frame=piece_frame,
        end_frames=end_frames,
        error_frames=error_frames,
        stopped=lambda: state.stops.is_stopped(task_id, call.key, user),
        on_done=on_done,
        drop=connection_dropper(),
    )
    return paced(
        plan,
        call.pacing,
        state.config.ping_interval_s,
        fault,
        state.config.stall_max_s,
        key=f"{query}|{reply.answer}",
    )


def stop_chat_message(call: Call) -> Response:
    user, task_id = call.body["user"], call.v.params["task_id"]
    store.request_stop(call.db, call.key, user, task_id)
    call.state.stops.mark(task_id, call.key, user)
    return json_response({"result": "success"})


HANDLERS = {
    "sendChatMessage": send_chat_message,
    "stopChatMessage": stop_chat_message,
}
