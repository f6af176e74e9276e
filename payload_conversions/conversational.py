"""Hugging Face conversational payloads <-> chat completion messages and responses.

The HF task models a conversation as two parallel lists plus the new `text`; chat completions model
it as a list of role-tagged messages. These functions map one onto the other and refuse, with a
`ConversionError` naming the field, whatever the other side cannot express.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from payload_conversions.errors import ConversionError

CHAT_ROLES = ("system", "developer", "user", "assistant", "tool")
# Roles that carry instructions, not conversation turns: the HF task has no slot for them.
INSTRUCTION_ROLES = ("system", "developer")
# Consecutive messages of one role are joined with this (as LangChain's merge_message_runs does).
MERGE_SEPARATOR = "\n"


def _string_list(inputs: Mapping[str, Any], key: str) -> list[str]:
    value = inputs.get(key, [])
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConversionError("must be a list of strings", key)
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise ConversionError("must be a string", f"{key}[{i}]")
    return list(value)


def read_conversational_inputs(inputs: Mapping[str, Any]) -> tuple[str, list[str], list[str]]:
    """Check an HF `inputs` object and return (text, past_user_inputs, generated_responses).

    Only what the conversion needs is checked here (types and equal lengths, the one rule JSON Schema
    cannot state); ranges and sizes are the contract's business.
    """
    if not isinstance(inputs, Mapping):
        raise ConversionError("must be an object with `text`", "inputs")
    text = inputs.get("text")
    if not isinstance(text, str):
        raise ConversionError("is required and must be a string", "text")
    past = _string_list(inputs, "past_user_inputs")
    generated = _string_list(inputs, "generated_responses")
    if len(past) != len(generated):
        raise ConversionError(
            f"has {len(generated)} items but past_user_inputs has {len(past)}; "
            "the lists must have the same length",
            "generated_responses",
        )
    return text, past, generated


def conversational_to_chat_messages(inputs: Mapping[str, Any], system: str | None = None) -> list[dict]:
    """HF `inputs` -> chat messages: user/assistant pairs in order, then `text` as the last user turn.

    `system`, when given, becomes a leading system message (the HF payload has no place for it).
    """
    text, past, generated = read_conversational_inputs(inputs)
    messages: list[dict] = []
    if system is not None:
        if not isinstance(system, str):
            raise ConversionError("must be a string", "system")
        messages.append({"role": "system", "content": system})
    for user_turn, answer in zip(past, generated, strict=True):
        messages.append({"role": "user", "content": user_turn})
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": text})
    return messages


def _message_text(message: Any, where: str) -> tuple[str, str]:
    """(role, text) of one chat message, or a ConversionError for what HF cannot carry."""
    if not isinstance(message, Mapping):
        raise ConversionError("must be an object with `role` and `content`", where)
    role = message.get("role")
    if role not in CHAT_ROLES:
        raise ConversionError(
            f"unknown role {role!r}; expected one of {', '.join(CHAT_ROLES)}", f"{where}.role"
        )
    if role == "tool" or message.get("tool_calls"):
        field = f"{where}.role" if role == "tool" else f"{where}.tool_calls"
        raise ConversionError("tool calls and tool results have no place in a conversational payload", field)
    content = message.get("content")
    if isinstance(content, str):
        return role, content
    if isinstance(content, Sequence) and not isinstance(content, str | bytes):
        pieces = []
        for i, part in enumerate(content):
            if (
                not isinstance(part, Mapping)
                or part.get("type") != "text"
                or not isinstance(part.get("text"), str)
            ):
                raise ConversionError("only text parts can be converted", f"{where}.content[{i}]")
            pieces.append(part["text"])
        return role, "".join(pieces)
    raise ConversionError("must be a string or a list of text parts", f"{where}.content")


def chat_messages_to_conversational(messages: Sequence[Mapping[str, Any]]) -> dict:
    """Chat messages -> HF `inputs` {text, past_user_inputs, generated_responses}.

    System and developer messages are dropped; runs of one role are merged; the remaining turns must
    start with a user message and end with one (that last one becomes `text`).
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence) or not messages:
        raise ConversionError("must be a non-empty list of messages", "messages")
    turns: list[list[Any]] = []  # [role, text, index of the first message of the run]
    for i, message in enumerate(messages):
        role, text = _message_text(message, f"messages[{i}]")
        if role in INSTRUCTION_ROLES:
            continue
        if turns and turns[-1][0] == role:
            turns[-1][1] += MERGE_SEPARATOR + text
        else:
            turns.append([role, text, i])
    if not turns:
        raise ConversionError(
            "has no user message (system and developer messages have no HF slot)", "messages"
        )
    if turns[0][0] != "user":
        raise ConversionError(
            "the conversation must start with a user message", f"messages[{turns[0][2]}].role"
        )
    if turns[-1][0] != "user":
        raise ConversionError(
            "the last turn must be a user message (it becomes `text`)", f"messages[{turns[-1][2]}].role"
        )
    past = [t[1] for t in turns[:-1] if t[0] == "user"]
    generated = [t[1] for t in turns[:-1] if t[0] == "assistant"]
    return {"text": turns[-1][1], "past_user_inputs": past, "generated_responses": generated}


def _response(inputs: Mapping[str, Any], generated_text: str, finish_reason: Any) -> dict:
    text, past, generated = read_conversational_inputs(inputs)
    result: dict[str, Any] = {
        "generated_text": generated_text,
        "conversation": {
            "past_user_inputs": [*past, text],
            "generated_responses": [*generated, generated_text],
        },
    }
    if finish_reason not in (None, "stop"):
        result["warnings"] = [f"The chat completion ended with finish_reason {finish_reason!r}."]
    return result


def chat_completion_to_conversational(inputs: Mapping[str, Any], completion: Mapping[str, Any]) -> dict:
    """A blocking chat completion response -> the HF response for the request `inputs`.

    The conversation is the request's lists with `text` and the answer appended, each exactly once.
    A finish_reason other than "stop" (a cut-off answer) is reported in `warnings`.
    """
    if not isinstance(completion, Mapping):
        raise ConversionError("must be a chat completion object", "completion")
    if "error" in completion:
        raise ConversionError(f"the chat completion failed: {completion['error']!r}", "error")
    choices = completion.get("choices")
    if not isinstance(choices, Sequence) or isinstance(choices, str) or not choices:
        raise ConversionError("must be a non-empty list", "choices")
    choice = choices[0]
    message = choice.get("message") if isinstance(choice, Mapping) else None
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, str):
        raise ConversionError(
            "must be a string (a tool call has no conversational form)", "choices[0].message.content"
        )
    return _response(inputs, content, choice.get("finish_reason"))


def chunks_to_conversational(inputs: Mapping[str, Any], chunks: Iterable[Mapping[str, Any] | str]) -> dict:
    """Streamed chat completion chunks (parsed `data:` payloads) -> the HF response.

    Content deltas of choice 0 are joined; a `"[DONE]"` item ends the stream; usage-only chunks are
    skipped. A stream that ends without a finish_reason was cut off and is refused.
    """
    pieces: list[str] = []
    finish_reason: Any = None
    stream_id: Any = None
    for n, chunk in enumerate(chunks):
        if chunk == "[DONE]":
            break
        if not isinstance(chunk, Mapping):
            raise ConversionError("must be a chat completion chunk object", f"chunks[{n}]")
        if "error" in chunk:
            raise ConversionError(f"the stream reported an error: {chunk['error']!r}", "error")
        if chunk.get("object") != "chat.completion.chunk":
            raise ConversionError("must be 'chat.completion.chunk'", f"chunks[{n}].object")
        stream_id = chunk.get("id") if stream_id is None else stream_id
        if chunk.get("id") != stream_id:
            raise ConversionError("differs from the first chunk's id", f"chunks[{n}].id")
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise ConversionError("must be a list", f"chunks[{n}].choices")
        for choice in choices:
            if not isinstance(choice, Mapping) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content") if isinstance(delta, Mapping) else None
            if content is not None:
                if not isinstance(content, str):
                    raise ConversionError("must be a string", f"chunks[{n}].choices[0].delta.content")
                pieces.append(content)
            if choice.get("finish_reason") is not None:
                finish_reason = choice["finish_reason"]
    if finish_reason is None:
        raise ConversionError("the stream ended before a chunk carried a finish_reason", "finish_reason")
    return _response(inputs, "".join(pieces), finish_reason)
