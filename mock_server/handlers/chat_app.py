"""Chat App API handlers (Dify service API): chat, stop, feedback, history, conversations, audio."""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import wave
from pathlib import PurePosixPath
from typing import Any

from flask import Response, request

from mock_server import store
from mock_server.errors import ApiError
from mock_server.fixtures import form_controls
from mock_server.handlers.base import Call, connection_dropper, json_response, sse_response
from mock_server.state import release_db
from mock_server.streaming import PIECE, StreamPlan, data_frame, paced, piece_template

GENERIC_TYPES = {"", "application/octet-stream"}
NAME_LENGTH = 40


def _not_found(message: str) -> ApiError:
    return ApiError(404, message, "not_found")


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}" if field else message, "invalid_param", param=field or None)


def derive_name(query: str) -> str:
    """A conversation name from its first query: the first line, at most 40 characters."""
    text = " ".join(query.split())
    return text if len(text) <= NAME_LENGTH else text[: NAME_LENGTH - 3].rstrip() + "..."


def check_inputs(call: Call, inputs: dict[str, Any]) -> dict[str, Any]:
    """Enforce the app's user_input_form; returns the inputs with defaults filled in."""
    out = dict(inputs)
    for kind, control in form_controls(call.state.fixtures.parameters):
        name = control.get("variable")
        if not name:
            continue
        value = inputs.get(name)
        if value is None or value == "":
            if control.get("required"):
                raise _bad(f"inputs.{name}", f"{name} is required in input form")
            if control.get("default") not in (None, ""):
                out[name] = control["default"]
            continue
        if kind == "select":
            options = control.get("options") or []
            if value not in options:
                raise _bad(f"inputs.{name}", f"{name} in input form must be one of the following: {options}")
        elif kind in {"text-input", "paragraph"}:
            if not isinstance(value, str):
                raise _bad(f"inputs.{name}", f"{name} in input form must be a string")
            limit = control.get("max_length")
            if limit and len(value) > int(limit):
                raise _bad(f"inputs.{name}", f"{name} in input form must be less than {limit} characters")
        elif kind == "number" and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _bad(f"inputs.{name}", f"{name} in input form must be a number")
    return out


def send_chat_message(call: Call) -> Response:
    body = call.body
    user = body["user"]
    query = body["query"]
    conv_id = body.get("conversation_id") or ""
    conn = call.db
    now = int(time.time())
    engine = call.state.engine
    answer = engine.answer(query)
    message_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
    with store.transaction(conn):
        if conv_id:
            conv = store.get_conversation(conn, call.key, user, conv_id)
            if conv is None:
                raise _not_found("Conversation Not Exists.")
            conn.execute(
                "UPDATE conversations SET updated_at = ? WHERE id = ?",
                (max(now, conv["updated_at"]), conv_id),
            )
            inputs = json.loads(conv["inputs"])
        else:
            inputs = check_inputs(call, body.get("inputs") or {})
            conv_id = str(uuid.uuid4())
            name = (
                derive_name(query)
                if body.get("auto_generate_name")
                else call.state.fixtures.default_conversation_name
            )
            store.insert_conversation(
                conn,
                call.key,
                user,
                {
                    "id": conv_id,
                    "name": name,
                    "inputs": inputs,
                    "status": "normal",
                    "introduction": call.state.fixtures.parameters.get("opening_statement"),
                    "created_at": now,
                    "updated_at": now,
                },
            )
        store.insert_message(
            conn,
            call.key,
            user,
            {
                "id": message_id,
                "conversation_id": conv_id,
                "inputs": inputs,
                "query": query,
                "answer": answer,
                "created_at": now,
            },
        )
    usage = _usage(engine, query, answer)
    common = {"task_id": task_id, "id": message_id, "message_id": message_id, "conversation_id": conv_id}
    if body.get("response_mode", "blocking") != "streaming":
        return json_response(
            {
                "event": "message",
                **common,
                "mode": "chat",
                "answer": answer,
                "metadata": {"usage": usage},
                "created_at": now,
            }
        )
    release_db()
    return sse_response(_chat_stream(call, user, common, now, query, answer))


def _usage(engine, query: str, answer: str) -> dict[str, int]:
    prompt, completion = engine.count_tokens(query), engine.count_tokens(answer)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _chat_stream(call: Call, user: str, common: dict[str, Any], created_at: int, query: str, answer: str):
    state, engine = call.state, call.state.engine
    task_id, message_id = common["task_id"], common["id"]
    state.stops.watch()

    piece_frame = piece_template({"event": "message", **common, "answer": PIECE, "created_at": created_at})

    def end_frames(sent: list[str], stopped: bool) -> list[bytes]:
        return [
            data_frame(
                {
                    "event": "message_end",
                    **common,
                    "metadata": {"usage": _usage(engine, query, "".join(sent))},
                }
            )
        ]

    def error_frames() -> list[bytes]:
        error = {
            "event": "error",
            "task_id": task_id,
            "message_id": message_id,
            "status": 500,
            "code": "internal_server_error",
            "message": "The server encountered an internal error.",
        }
        return [data_frame(error)]

    def on_done(sent: list[str], complete: bool) -> None:
        state.stops.forget(task_id, call.key, user)
        if not complete:  # stopped or cut by a fault: history shows what the client received
            conn = state.connection()
            try:
                store.set_answer(conn, message_id, "".join(sent))
            finally:
                state.pool.release(conn)

    plan = StreamPlan(
        head=[],
        pieces=engine.pieces(answer),
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
        call.fault,
        state.config.stall_max_s,
        key=f"{query}|{answer}",
    )


def stop_chat_message(call: Call) -> Response:
    user, task_id = call.body["user"], call.v.params["task_id"]
    store.request_stop(call.db, call.key, user, task_id)
    call.state.stops.mark(task_id, call.key, user)
    return json_response({"result": "success"})


def create_message_feedback(call: Call) -> Response:
    body = call.body
    message = store.get_message(call.db, call.key, body["user"], call.v.params["message_id"])
    if message is None:
        raise _not_found("Message Not Exists.")
    rating = body.get("rating")
    if rating is None and not message["rating"]:
        raise _bad("rating", "the message has no feedback to remove")
    store.set_feedback(call.db, message["id"], rating, body.get("content"))
    return json_response({"result": "success"})


def list_messages(call: Call) -> Response:
    p = call.v.params
    conv = store.get_conversation(call.db, call.key, p["user"], p["conversation_id"])
    if conv is None:
        raise _not_found("Conversation Not Exists.")
    page = store.list_messages(call.db, conv["id"], p.get("first_id") or None, p["limit"])
    if page is None:
        raise _not_found("First Message Not Exists.")
    data, has_more = page
    return json_response({"limit": p["limit"], "has_more": has_more, "data": data})


def list_conversations(call: Call) -> Response:
    p = call.v.params
    page = store.list_conversations(call.db, call.key, p["user"], p.get("last_id") or None, p["limit"])
    if page is None:
        raise _not_found("Last Conversation Not Exists.")
    data, has_more = page
    return json_response({"limit": p["limit"], "has_more": has_more, "data": data})


def rename_conversation(call: Call) -> Response:
    body, conv_id = call.body, call.v.params["conversation_id"]
    user = body["user"]
    conn = call.db
    conv = store.get_conversation(conn, call.key, user, conv_id)
    if conv is None:
        raise _not_found("Conversation Not Exists.")
    if body.get("auto_generate"):
        name = derive_name(store.first_query(conn, conv_id) or conv["name"])
    else:
        name = body.get("name") or ""
        if not name.strip():
            raise _bad("name", "name is required unless auto_generate is true")
    document = document_form()
    store.rename_conversation(conn, call.key, user, conv_id, name)
    if document:
        return json_response({"result": "success"})
    return json_response(store.conversation_row(store.get_conversation(conn, call.key, user, conv_id)))


def delete_conversation(call: Call) -> Response:
    document = document_form()  # a bad header must refuse before anything is deleted
    if not store.delete_conversation(call.db, call.key, call.body["user"], call.v.params["conversation_id"]):
        raise _not_found("Conversation Not Exists.")
    if document:
        return json_response({"result": "success"})
    return Response(status=204)


def document_form() -> bool:
    """`X-Mock-Response-Form: document` picks the 2023 document's legal answer over the real server's
    (rename: {"result": "success"} instead of the conversation; delete: 200 JSON instead of 204)."""
    form = request.headers.get("X-Mock-Response-Form", "real").strip().lower()
    if form not in {"real", "document"}:
        raise _bad("X-Mock-Response-Form", f"'{form}' is not one of 'real', 'document'")
    return form == "document"


def audio_to_text(call: Call) -> Response:
    storage = call.v.files.get("file")
    if storage is None:
        raise ApiError(400, "No audio uploaded.", "no_audio_uploaded", param="file")
    content_type = (storage.mimetype or "").lower()
    extension = PurePosixPath(storage.filename or "").suffix.lower().lstrip(".")
    allowed_types = _allowed_audio_types(call)
    file_schema = _audio_file_schema(call)
    extensions = {str(e).lower() for e in file_schema["x-file-extensions"]}
    limit = int(file_schema["x-max-bytes"])
    type_ok = content_type in allowed_types or (content_type in GENERIC_TYPES and extension in extensions)
    extension_ok = not extension or extension in extensions
    if not (type_ok and extension_ok):
        raise ApiError(
            415,
            f"Audio type not allowed: {content_type or 'none'} .{extension or '?'}",
            "unsupported_audio_type",
        )
    data = storage.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"Audio size exceeded. The limit is {limit / 2**20:g} MB.", "audio_too_large")
    return json_response({"text": transcribe(call.state.fixtures.transcriptions, data)})


def _allowed_audio_types(call: Call) -> set[str]:
    """The part content types the contract's multipart encoding lists for `file`."""
    media = call.op.raw.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
    listed = media.get("encoding", {}).get("file", {}).get("contentType", "")
    return {t.strip().lower() for t in listed.split(",") if t.strip()}


def _audio_file_schema(call: Call) -> dict[str, Any]:
    """The contract's schema of the `file` part: its x-max-bytes and x-file-extensions are the limits."""
    media = call.op.raw["requestBody"]["content"]["multipart/form-data"]
    return call.state.contract.resolve(call.state.contract.resolve(media["schema"])["properties"]["file"])


def transcribe(doc: dict[str, Any], data: bytes) -> str:
    """Canned transcription by sha256; other audio gets transcriptions.yaml's `unknown` rule."""
    digest = hashlib.sha256(data).hexdigest()
    entries = doc.get("transcriptions") or {}
    if isinstance(entries, list):
        entries = {str(e.get("sha256", "")): e for e in entries}
    entry = entries.get(digest)
    if entry is not None:
        return str(entry.get("text", "") if isinstance(entry, dict) else entry)
    unknown = doc.get("unknown") or {}
    seconds = wav_seconds(data)
    if seconds is not None:
        return str(unknown.get("wav", "Unrecognised audio, {seconds} seconds long.")).format(
            seconds=f"{seconds:.1f}"
        )
    return str(unknown.get("other", "Unrecognised audio, {bytes} bytes.")).format(bytes=len(data))


def wav_seconds(data: bytes) -> float | None:
    """Duration of a PCM WAV file, or None when the bytes are not one."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate else None
    except (wave.Error, EOFError, ValueError):
        return None


def get_parameters(call: Call) -> Response:
    return json_response(call.state.fixtures.parameters)


CHAT_APP_HANDLERS = {
    "sendChatMessage": send_chat_message,
    "stopChatMessage": stop_chat_message,
    "createMessageFeedback": create_message_feedback,
    "listMessages": list_messages,
    "listConversations": list_conversations,
    "renameConversation": rename_conversation,
    "deleteConversation": delete_conversation,
    "audioToText": audio_to_text,
    "getParameters": get_parameters,
}
