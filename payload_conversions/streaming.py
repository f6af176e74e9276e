"""A chat completion response as a user saves it -> the object or chunk list the pipeline converts.

Three forms are accepted: a blocking chat completion (a JSON object), a stream as a JSON list of
chunk objects (a `"[DONE]"` string may end it), and a stream as the SSE text a server sends
(`data: {chunk}` frames, then `data: [DONE]`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from payload_conversions.errors import ConversionError

DONE = "[DONE]"
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_EXPECTED = (
    "expected a chat completion object, a JSON list of stream chunks, or an SSE stream "
    "(`data: {chunk}` lines ending with `data: [DONE]`)"
)


def parse_sse(text: str) -> list[str]:
    """The data of every event of an SSE text, in order (the WHATWG event-stream rules).

    Lines end with CRLF, LF or CR; a line starting with `:` is a comment; in `field: value` one space
    after the colon is dropped; the `data` lines of one event are joined with `\\n`; a blank line ends
    the event. Events without a data line (`event: ping`) carry nothing and are skipped; the other
    fields (`event`, `id`, `retry`) are ignored. Unlike a live stream, a last event that is not followed
    by a blank line is kept: a saved file often lacks the final blank line.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    events: list[str] = []
    data: list[str] | None = None
    for line in _LINE_BREAK.split(text):
        if line == "":
            if data is not None:
                events.append("\n".join(data))
            data = None
            continue
        if line.startswith(":"):
            continue
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "data":
            data = [*(data or []), value]
    if data is not None:
        events.append("\n".join(data))
    return events


def read_chat_completion(text: str) -> dict[str, Any] | list[Any]:
    """Saved response text -> a blocking chat completion (dict) or a list of stream chunks.

    SSE items after `data: [DONE]` are dropped; the list keeps the `"[DONE]"` marker. Whether the
    chunks form a complete answer is `chunks_to_conversational`'s business (it refuses a stream
    without a finish_reason, i.e. one that was cut off).
    """
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith(("{", "[")):
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise ConversionError(f"the chat completion is not valid JSON: {exc}") from exc
        if isinstance(value, dict):
            if value.get("object") == "chat.completion.chunk":
                raise ConversionError(
                    "the chat completion is a single stream chunk; give the whole stream "
                    "(a JSON list of chunks or the SSE text)"
                )
            return value
        if isinstance(value, list):
            if not value:
                raise ConversionError("the chat completion is an empty list; a stream needs its chunks")
            return value
    events = parse_sse(text)
    if not events:
        raise ConversionError(f"cannot read the chat completion: {_EXPECTED}")
    chunks: list[Any] = []
    for n, data in enumerate(events):
        if data.strip() == DONE:
            chunks.append(DONE)
            break
        try:
            chunks.append(json.loads(data))
        except ValueError as exc:
            raise ConversionError(f"the data of SSE event {n + 1} is not valid JSON: {exc}") from exc
    return chunks
