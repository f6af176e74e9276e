"""OpenAI-style chat completions, answered by the shared conversation engine."""

from __future__ import annotations

import time
import uuid
from typing import Any

from flask import Response

from mock_server.handlers.base import Call, connection_dropper, json_response, sse_response
from mock_server.state import release_db
from mock_server.streaming import COMMENT_PING, PIECE, StreamPlan, data_frame, paced, piece_template


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return content or ""


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The text the engine answers: the last user message.

    A conversation without a user message (only system or assistant turns) is legal in the contract,
    as with real chat completion servers, so it is answered too: by the fallback rule for "".
    """
    for message in reversed(messages):
        if message.get("role") == "user":
            return message_text(message)
    return ""


def completion_for(engine, model: str, messages: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """A blocking completion object for `messages`, plus the stream pieces of its answer."""
    answer = engine.answer(last_user_text(messages))
    prompt = sum(engine.count_tokens(message_text(m)) for m in messages)
    pieces = engine.pieces(answer)
    completion = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": len(pieces),
            "total_tokens": prompt + len(pieces),
        },
    }
    return completion, pieces


def create_chat_completion(call: Call) -> Response:
    body = call.body
    completion, pieces = completion_for(call.state.engine, body["model"], body["messages"])
    if not body.get("stream"):
        return json_response(completion)
    release_db()
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    base = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "created": completion["created"],
        "model": completion["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return data_frame({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    def end_frames(sent: list[str], stopped: bool) -> list[bytes]:
        frames = [chunk({}, "stop")]
        if include_usage:
            usage = dict(completion["usage"], completion_tokens=len(sent))
            usage["total_tokens"] = usage["prompt_tokens"] + len(sent)
            frames.append(data_frame({**base, "choices": [], "usage": usage}))
        frames.append(data_frame("[DONE]"))
        return frames

    def error_frames() -> list[bytes]:
        message = "The server had an error while processing your request."
        return [
            data_frame({"error": {"message": message, "type": "server_error", "param": None, "code": None}})
        ]

    plan = StreamPlan(
        error_frames=error_frames,
        head=[chunk({"role": "assistant", "content": ""})],
        pieces=pieces,
        piece_frame=piece_template(
            {**base, "choices": [{"index": 0, "delta": {"content": PIECE}, "finish_reason": None}]}
        ),
        end_frames=end_frames,
        ping=COMMENT_PING,
        drop=connection_dropper(),
    )
    answer = completion["choices"][0]["message"]["content"]
    return sse_response(
        paced(
            plan,
            call.pacing,
            call.state.config.ping_interval_s,
            call.fault,
            call.state.config.stall_max_s,
            key=answer,
        )
    )


COMPLETION_HANDLERS = {"createChatCompletion": create_chat_completion}
