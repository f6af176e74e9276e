"""audio: speech to text with a real file, a wrong type (415), an oversized file (413), no file (400);
text to speech of a text or of a message (real audio bytes), without either (400).

Each feature has its switch in the app's /parameters (`speech_to_text`, `text_to_speech`). Real
servers refuse a switched-off feature before they look at the request (Dify 1.12.1: 400
`invalid_param` "Speech to text is not enabled"), so the checks that need the feature on skip with
that reason, and `audio.switched_off` judges the refusal instead (SPEC_NOTES A15).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.chatapp import ChatApp
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import Operation, era, operation, resolve
from conformance.data import fixtures_dir, load_yaml
from conformance.http import Client, Exchange
from conformance.run import Run
from conformance.samples import tiny_wav

AUDIO = operation("audioToText")
# A request without a `file` part: Dify's own code (`no_audio_uploaded`) or, as Dify 1.12.1 answers,
# werkzeug's missing-key error for `request.files["file"]`.
MISSING_FILE_CODES = ("no_audio_uploaded", "bad_request_key_error")
SWITCHES = {"audioToText": "speech_to_text", "textToAudio": "text_to_speech"}


def _needs_on(app: ChatApp, operation_id: str) -> None:
    """Skip the calling check when the app's /parameters switches the operation's feature off."""
    feature = SWITCHES[operation_id]
    if app.switched_off(feature):
        pytest.skip(
            f"{feature} is off in the app's /parameters: the server refuses {operation_id} before "
            "reading it (judged by audio.switched_off)"
        )


def _size_limit() -> int:
    """The contract's size limit of the `file` part (x-max-bytes)."""
    body = resolve(AUDIO.spec["requestBody"])["content"]["multipart/form-data"]
    return int(resolve(resolve(body["schema"])["properties"]["file"])["x-max-bytes"])


def _samples() -> list[tuple[Path, str | None]]:
    """Audio fixtures with their expected transcription (if fixtures/audio is present)."""
    folder = fixtures_dir() / "audio"
    doc = load_yaml("audio/transcriptions.yaml") or {}
    entries = doc.get("transcriptions", {}) if isinstance(doc, dict) else {}
    texts = {e.get("file"): e.get("text") for e in entries.values() if isinstance(e, dict)}
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    return [(f, texts.get(f.name)) for f in files]


def _post(client: Client, run: Run, files: dict | None) -> Exchange:
    return client.call(
        "POST",
        "/audio-to-text",
        files=files,
        data={"user": run.user("audio")},
        evidence_body={"files": {k: f"{v[0]} ({len(v[1])} bytes, {v[2]})" for k, v in (files or {}).items()}},
    )


@check(
    "audio.transcribe",
    "a valid audio file is transcribed: 200 {text}",
    contract="audioToText 200: application/json `{text}`",
)
def test_transcribe(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "audioToText")
    samples = _samples()
    name, payload = (samples[0][0].name, samples[0][0].read_bytes()) if samples else ("hello.wav", tiny_wav())
    ex = _post(client, run, {"file": (name, payload, "audio/wav")})
    expect_status(ex, 200)
    expect_json_body(ex, AUDIO)


@check("audio.transcription_text", "the fixture files are transcribed as fixtures/audio says", level="SHOULD")
def test_transcription_text(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "audioToText")
    samples = [(f, t) for f, t in _samples() if t]
    if not samples:
        pytest.skip("no fixtures/audio transcriptions to compare with")
    for path, text in samples:
        ex = _post(client, run, {"file": (path.name, path.read_bytes(), "audio/wav")})
        body = ex.json() or {}
        got = str(body.get("text", "")).strip().lower().rstrip(".?!")
        expect(
            got == text.strip().lower().rstrip(".?!"),
            f"{path.name}: transcribed {body.get('text')!r}, fixture says {text!r}",
            ex,
        )


@check("audio.wrong_type", "a file that is not audio is 415 unsupported_audio_type")
def test_wrong_type(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "audioToText")
    ex = _post(client, run, {"file": ("notes.txt", b"this is not audio\n" * 4, "text/plain")})
    expect_error(ex, AUDIO, 415, "unsupported_audio_type")


@check("audio.too_large", "a file over the contract's size limit (x-max-bytes) is 413 audio_too_large")
def test_too_large(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "audioToText")
    wav = tiny_wav()
    big = wav + b"\0" * (_size_limit() + 1024 - len(wav))
    ex = _post(client, run, {"file": ("long.wav", big, "audio/wav")})
    expect_error(ex, AUDIO, 413, "audio_too_large")


@check(
    "audio.missing_file",
    "a request without a file part is 400 (no_audio_uploaded, or bad_request_key_error as Dify 1.12.1)",
    contract="audioToText: no `file` part is 400 `no_audio_uploaded` or `bad_request_key_error`",
)
def test_missing_file(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "audioToText")
    ex = client.call(
        "POST",
        "/audio-to-text",
        files={"other": ("x.txt", b"x", "text/plain")},
        data={"user": run.user("audio")},
        evidence_body={"user": run.user("audio")},
    )
    body = expect_error(ex, AUDIO, 400)
    code = body.get("code") if isinstance(body, dict) else None
    expect(code in MISSING_FILE_CODES, f"error code {code!r}, wanted one of {MISSING_FILE_CODES}", ex)


@check(
    "audio.switched_off",
    "a speech feature the app's /parameters switches off is refused with a 4xx error, never served or a 5xx",
    contract=(
        "audioToText / textToAudio: with `speech_to_text` / `text_to_speech` disabled in /parameters, "
        'a 4xx in the error envelope (Dify: 400 `invalid_param` "... is not enabled")'
    ),
)
def test_switched_off(client: Client, run: Run, app: ChatApp) -> None:
    off = [op_id for op_id, feature in SWITCHES.items() if app.switched_off(feature)]
    if not off:
        pytest.skip("the app's /parameters switches neither speech feature off: nothing to judge")
    for op_id in off:
        if op_id == "audioToText":
            ex = _post(client, run, {"file": ("hello.wav", tiny_wav(), "audio/wav")})
        else:
            _speech_op()
            ex = client.call("POST", "/text-to-audio", json_body={"user": run.user("speech"), "text": "Hi."})
        op = operation(op_id)
        expect(
            ex.status is not None and 400 <= ex.status < 500,
            f"{op_id} is switched off in /parameters but answered {ex.status}",
            ex,
            expected=f"{op_id}: a switched-off feature is refused (4xx)",
        )
        expect_error(ex, op, int(ex.status or 400))


# ---------------------------------------------------------------- text to speech

# The leading bytes of the audio containers a text-to-speech answer may carry, by content type.
AUDIO_MAGIC = {
    "audio/wav": (b"RIFF",),
    "audio/x-wav": (b"RIFF",),
    "audio/wave": (b"RIFF",),
    "audio/mpeg": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3"),
    "audio/mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3"),
    "audio/ogg": (b"OggS",),
    "audio/opus": (b"OggS",),
    "audio/flac": (b"fLaC",),
    "audio/webm": (b"\x1a\x45\xdf\xa3",),
}


def _speech_op() -> Operation:
    """textToAudio, or a skip when the judged era's API does not have it (2023)."""
    try:
        op = operation("textToAudio")
    except KeyError:
        op = None
    if op is None or era() not in op.spec.get("x-eras", [era()]):
        pytest.skip(f"textToAudio is not part of the judged era's API ({era()})")
    return op


def _speak(client: Client, run: Run, **body: object) -> Exchange:
    _speech_op()
    run.spend(1, "text to speech")
    return client.call("POST", "/text-to-audio", json_body={"user": run.user("speech"), **body})


def _expect_audio(ex: Exchange) -> None:
    rule = "textToAudio 200: audio bytes with an audio/* Content-Type"
    expect_status(ex, 200, expected=rule)
    ctype = ex.content_type or "(none)"
    expect(ex.content_type.startswith("audio/"), f"content type {ctype}", ex, expected=rule)
    expect(len(ex.content) > 0, "an empty body", ex, expected=rule)


@check("audio.speech", "text to speech answers audio bytes with an audio content type")
def test_speech(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "textToAudio")
    _expect_audio(_speak(client, run, text="Die Hard is a Christmas movie."))


@check(
    "audio.speech_format",
    "the spoken audio is the container its content type names (WAV, MP3, Ogg, FLAC, WebM)",
    level="SHOULD",
)
def test_speech_format(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "textToAudio")
    ex = _speak(client, run, text="Yippee ki yay.")
    _expect_audio(ex)
    magic = AUDIO_MAGIC.get(ex.content_type)
    if magic is None:
        pytest.skip(f"no known signature for {ex.content_type}")
    expect(
        ex.content.startswith(magic),
        f"{ex.content_type} body starts with {ex.content[:8]!r}, not a {ex.content_type} signature",
        ex,
    )


@check("audio.speech_message", "text to speech of the caller's message (message_id) answers audio")
def test_speech_message(client: Client, run: Run, app: ChatApp) -> None:
    _needs_on(app, "textToAudio")
    user = run.user("speech")
    answer = app.send_ok(user, "Which movie is the best?")
    _expect_audio(_speak(client, run, message_id=answer["id"]))


@check("audio.speech_no_text", "text to speech with neither text nor message_id is 400 invalid_param")
def test_speech_no_text(client: Client, run: Run) -> None:
    _speech_op()
    ex = client.call("POST", "/text-to-audio", json_body={"user": run.user("speech")})
    expect_error(ex, _speech_op(), 400, "invalid_param")
