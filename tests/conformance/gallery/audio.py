"""Speech to text: POST /audio-to-text."""

from __future__ import annotations

from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap


def audio_no_size_limit(app: App) -> App:
    def accept(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if int(env.get("CONTENT_LENGTH") or 0) > 15 * 1024 * 1024:
            return 200, [("Content-Type", "application/json")], b'{"text": "a very long recording"}'
        return None

    return wrap(app, path=r"/v1/audio-to-text$", intercept=accept)


def audio_wrong_field(app: App) -> App:
    def rename(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "text" in body:
            return code, {"transcript": body["text"]}
        return code, body

    return wrap(app, path=r"/v1/audio-to-text$", json_response=rename)


def audio_wrong_text(app: App) -> App:
    def garble(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and "text" in body:
            body["text"] = "lorem ipsum"
        return code, body

    return wrap(app, path=r"/v1/audio-to-text$", json_response=garble)


BROKEN: list[Variant] = [
    Variant(
        "audio_no_size_limit",
        "uploads over the size limit accepted",
        "audio",
        audio_no_size_limit,
        ("audio.too_large",),
    ),
    Variant(
        "audio_wrong_field",
        "transcription under `transcript`, not `text`",
        "audio",
        audio_wrong_field,
        ("audio.transcribe",),
    ),
    Variant(
        "audio_wrong_text",
        "fixture audio transcribed wrongly (SHOULD)",
        "audio",
        audio_wrong_text,
        ("audio.transcription_text",),
    ),
]

GOOD: list[Variant] = []
