"""The other surfaces: Hugging Face conversational and OpenAI-style chat completions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.conformance.gallery.helpers import (
    COMPLETIONS_ARGS,
    CONV_ARGS,
    App,
    Variant,
    _deep,
    _json_everywhere,
    _stream_bytes,
)
from tests.conformance.gallery.streaming import crlf_sse, keepalive_comments
from tests.conformance.gallery.wire import _extra_fields
from tests.conformance.harness import mock_app
from tests.conformance.rewrite import frames, map_frames, wrap


def completions_without_done(app: App) -> App:
    def drop(chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            if frame.strip() != b"data: [DONE]":
                yield frame

    return _stream_bytes(drop)(app)


def completions_sloppy(app: App) -> App:
    """A half-compatible proxy: wrong role, wrong chunk object, no usage chunk, string errors."""

    def blocking(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and body.get("choices"):
            body["choices"][0]["message"]["role"] = "bot"
        if code >= 400 and isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = {"error": body["error"].get("message")}
        return code, body

    def chunk(p: Any) -> Any:
        if isinstance(p, dict) and p.get("choices") == []:
            return None  # the usage chunk is dropped
        if isinstance(p, dict):
            p["object"] = "chat.completion"
        return p

    return wrap(app, path=r"/v1/chat/completions$", json_response=blocking, stream=map_frames(chunk))


def conversation_turn_doubled(app: App) -> App:
    def double(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "conversation" in body:
            conv = body["conversation"]
            conv["past_user_inputs"].append(conv["past_user_inputs"][-1])
            conv["generated_responses"].append(conv["generated_responses"][-1])
        return code, body

    return wrap(app, path=r"^/models/", json_response=double)


def hf_options_wrapper(app: App) -> App:
    """The seed's convention on the wire: {"options": [answer]} and errors as {"message": ...}."""

    def wrap_answer(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200:
            return code, {"options": [body]}
        if isinstance(body, dict) and "error" in body:
            return code, {"message": body["error"]}
        return code, body

    return wrap(app, path=r"^/models/", json_response=wrap_answer)


BROKEN: list[Variant] = [
    Variant(
        "completions_without_done",
        "chat completion stream without [DONE]",
        "completions",
        completions_without_done,
        ("completions.chunk_sequence",),
        COMPLETIONS_ARGS,
    ),
    Variant(
        "conversation_turn_doubled",
        "the new turn appended twice",
        "conversational",
        conversation_turn_doubled,
        ("conversational.update_rule",),
        CONV_ARGS,
    ),
    Variant(
        "completions_sloppy",
        "wrong role, wrong chunk object, no usage chunk, string errors",
        "completions",
        completions_sloppy,
        (
            "completions.shape",
            "completions.stream_events_valid",
            "completions.stream_usage",
            "completions.errors",
        ),
        COMPLETIONS_ARGS,
    ),
    Variant(
        "hf_options_wrapper",
        "the seed's {options: [...]} wrapper and {message} errors",
        "conversational",
        hf_options_wrapper,
        (
            "conversational.shape",
            "conversational.list_length",
            "conversational.missing_text",
            "conversational.not_json",
        ),
        CONV_ARGS,
    ),
]


def completions_take_any_n(app: App) -> App:
    """An OpenAI-style server that takes `n` above 1 (the mock makes one choice; `maximum: 1` is only
    its fuzzing range, SPEC_NOTES S15): answered as for one choice."""

    def one(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict) and isinstance(body.get("n"), int) and not isinstance(body["n"], bool):
            body["n"] = 1 if body["n"] > 1 else body["n"]
        return body

    return wrap(app, path=r"/v1/chat/completions$", method="POST", request=one)


def empty_user_is_an_empty_page_2023(app: App) -> App:  # noqa: ARG001 - its own 2023 mock
    """A 2023 server: `user=` (empty) on the lists is an empty page, not a 400 (SPEC_NOTES S9, S15)."""
    inner = mock_app(era="2023")

    def nobody(env: Any, body: Any, query: dict[str, str]) -> Any:
        # the empty user is a user with nothing; the rest of the query is judged as for anyone (an
        # answer of an empty page whatever `last_id` says accepted a malformed cursor: a defect)
        if query.get("user") == "":
            query["user"] = "the-empty-user-has-nothing"
        return body

    return wrap(inner, path=r"/v1/(messages|conversations)$", method="GET", request=nobody)


GOOD: list[Variant] = [
    Variant(
        "completions_take_any_n",
        "chat completions take n above 1",
        "completions,fuzz",
        completions_take_any_n,
        extra=COMPLETIONS_ARGS + ("--max-examples", "2", "--fuzz-operations", "createChatCompletion"),
    ),
    Variant(
        "empty_user_is_an_empty_page_2023",
        "a 2023 server answers user= (empty) with an empty page",
        "fuzz",
        empty_user_is_an_empty_page_2023,
        extra=("--era", "2023", "--max-examples", "2", "--fuzz-operations", "listConversations,listMessages"),
    ),
    Variant(
        "other_surfaces_extra_fields",
        "extra fields on the conversational and completions surfaces",
        "conversational,completions",
        _json_everywhere(_deep(_extra_fields)),
        extra=CONV_ARGS + COMPLETIONS_ARGS,
    ),
    Variant(
        "other_surfaces_crlf_pings",
        "CRLF, comments and pings in chat completion streams",
        "completions",
        _stream_bytes(lambda chunks: crlf_sse(keepalive_comments(chunks))),
        extra=COMPLETIONS_ARGS,
    ),
]
