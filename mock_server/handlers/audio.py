"""Audio: speech to text, transcribed from canned fixtures by the audio's hash; text to speech, as
deterministic MP3 (what real servers answer) or, when the client asks for it, WAV (mock_server/speech.py)."""

from __future__ import annotations

import hashlib
import io
import wave
from typing import Any

from flask import Response, request

from mock_server import store
from mock_server.errors import ApiError
from mock_server.handlers.base import Call, bad_param, json_response, not_found
from mock_server.handlers.files import DEFAULT_USER
from mock_server.speech import MIME_TYPE as WAV_MIME_TYPE
from mock_server.speech import MP3_MIME_TYPE, speak

TTS_CHUNK = 4096  # bytes per chunk of a streamed speech answer


def audio_to_text(call: Call) -> Response:
    """Dify's order (R-cap chatflow/060, 061, chatflow-features-on/004-006): the `file` part must be
    there (validation: 400 bad_request_key_error), then the app's speech to text must be on (400
    invalid_param "Speech to text is not enabled", whatever the file), then the part's MIME type
    must be an allowed audio type (the file name is not looked at: 415), then the size (413)."""
    storage = call.v.files.get("file")
    if storage is None:  # validation refuses it first (VALIDATION_OVERRIDES); never reached
        raise ApiError(400, NO_FILE_PART, "bad_request_key_error", param="file")
    if not _switched_on(call.app.parameters, "speech_to_text"):
        raise bad_param("", "Speech to text is not enabled")
    content_type = (storage.mimetype or "").lower()
    limit = int(_audio_file_schema(call)["x-max-bytes"])
    if content_type not in _allowed_audio_types(call):
        raise ApiError(415, f"Audio type not allowed: {content_type or 'none'}", "unsupported_audio_type")
    data = storage.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"Audio size exceeded. The limit is {limit / 2**20:g} MB.", "audio_too_large")
    return json_response({"text": transcribe(call.state.fixtures.transcriptions, data)})


NO_FILE_PART = "The browser (or proxy) sent a request that this server could not understand."


def _switched_on(parameters: dict[str, Any], feature: str) -> bool:
    """Whether the app's /parameters turn `feature` (speech_to_text, text_to_speech) on; real servers
    read the same switch (`AudioService`)."""
    setting = parameters.get(feature)
    return isinstance(setting, dict) and bool(setting.get("enabled"))


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


def text_to_audio(call: Call) -> Response:
    """Speech of `text`, or of the caller's message `message_id` (which wins), as real audio bytes:
    MP3 (`audio/mpeg`, as real servers), or WAV when the request's Accept prefers `audio/wav`."""
    body = call.body
    text = body.get("text") or ""
    if body.get("message_id"):
        message = store.get_message(call.db, call.key, body.get("user") or DEFAULT_USER, body["message_id"])
        if message is None:
            raise not_found("Message Not Exists.")
        text = message["answer"]
    if not text.strip():
        raise bad_param("text", "Text is required")
    if not _switched_on(call.app.parameters, "text_to_speech"):  # Dify: after the text, before speaking
        raise bad_param("", "TTS is not enabled")
    voice = call.state.fixtures.voice
    offered = [MP3_MIME_TYPE, WAV_MIME_TYPE] if voice else [WAV_MIME_TYPE]
    mime_type = request.accept_mimetypes.best_match(offered, default=offered[0])
    audio = voice.speak(text) if voice and mime_type == MP3_MIME_TYPE else speak(text)
    if body.get("streaming"):
        chunks = (audio[i : i + TTS_CHUNK] for i in range(0, len(audio), TTS_CHUNK))
        return Response(chunks, mimetype=mime_type)
    return Response(audio, mimetype=mime_type)


HANDLERS = {
    "audioToText": audio_to_text,
    "textToAudio": text_to_audio,
}
