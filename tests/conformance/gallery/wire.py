"""Legal variations of the wire format every area must accept: extra fields, key order, spacing, case."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
    _deep,
    _json_everywhere,
)
from tests.conformance.rewrite import NO_BODY, frame_json, frames, wrap

FORM_KINDS = {"text-input", "paragraph", "select", "number"}


def _extra_fields(node: dict[str, Any]) -> dict[str, Any]:
    if set(node) & FORM_KINDS:
        return node  # a user_input_form item is a one-key object by contract (maxProperties: 1)
    return {**node, "x_gallery_extra": {"nested": [1, 2]}}


def _reorder(node: dict[str, Any]) -> dict[str, Any]:
    return dict(reversed(list(node.items())))


def spaced_json(app: App) -> App:
    def spaced(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return code, json.dumps(body, indent=2).encode() if body is not None else NO_BODY

    def spaced_frames(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            payload = frame_json(frame)
            yield frame if payload is None else b"data: " + json.dumps(payload).encode() + b"\n\n"

    return wrap(app, json_response=spaced, stream=spaced_frames)


def header_case(app: App) -> App:
    return wrap(app, headers=lambda env, hdrs: [(k.upper(), v) for k, v in hdrs])


BROKEN: list[Variant] = []

GOOD: list[Variant] = [
    Variant(
        "extra_fields",
        "unknown extra fields in every object",
        "chat,streaming,history,conversations,feedback,lifecycle,parameters",
        _json_everywhere(_deep(_extra_fields)),
    ),
    Variant(
        "reordered_keys",
        "JSON keys in reverse order",
        "chat,streaming,history,conversations",
        _json_everywhere(_deep(_reorder)),
    ),
    Variant(
        "spaced_json", "spaced, indented JSON (2023 style)", "chat,streaming,history,lifecycle", spaced_json
    ),
    Variant("header_case", "header names in upper case", "chat,streaming,history", header_case),
]
