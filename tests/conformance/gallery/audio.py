"""Speech to text (POST /audio-to-text) and text to speech (POST /text-to-audio)."""

from __future__ import annotations

import io
import json
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


SPEECH = r"/v1/text-to-audio$"
Answer = tuple[int, list[tuple[str, str]], bytes] | None


def _json_body(env: Any) -> dict[str, Any]:
    """The request's JSON body, read without consuming it."""
    length = int(env.get("CONTENT_LENGTH") or 0)
    raw = env["wsgi.input"].read(length) if length else b""
    env["wsgi.input"] = io.BytesIO(raw)
    try:
        body = json.loads(raw)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def speech_as_json(app: App) -> App:
    """The audio comes back base64-encoded in JSON instead of as audio bytes."""

    def answer(env: Any) -> Answer:
        return 200, [("Content-Type", "application/json")], b'{"audio": "UklGRiQAAABXQVZF"}'

    return wrap(app, path=SPEECH, intercept=answer)


def speech_not_audio(app: App) -> App:
    """An audio/wav content type over bytes that are no WAV file (a provider error page passed on)."""

    def answer(env: Any) -> Answer:
        body = _json_body(env)
        if body.get("text") or body.get("message_id"):
            return 200, [("Content-Type", "audio/wav")], b"<html>upstream error</html>"
        return None

    return wrap(app, path=SPEECH, intercept=answer)


def audio_off_but_served(app: App) -> App:
    """/parameters switches speech to text and text to speech off, yet both are still served (200)."""

    def off(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            body["speech_to_text"] = {"enabled": False}
            body["text_to_speech"] = {"enabled": False, "voice": "", "language": ""}
        return code, body

    return wrap(app, path=r"/v1/parameters$", json_response=off)


BROKEN: list[Variant] = [
    Variant(
        "audio_off_but_served",
        "speech features switched off in /parameters but served anyway",
        "audio",
        audio_off_but_served,
        ("audio.switched_off",),
    ),
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
    Variant(
        "speech_as_json",
        "text to speech answers JSON (base64 audio), whatever it is asked, never an error",
        "audio",
        speech_as_json,
        ("audio.speech", "audio.speech_message", "audio.speech_no_text"),
    ),
    Variant(
        "speech_not_audio",
        "text to speech answers bytes that are not the audio its content type names (SHOULD)",
        "audio",
        speech_not_audio,
        ("audio.speech_format",),
    ),
]

GOOD: list[Variant] = []
