"""audio: speech to text with a real file, a wrong type (415), an oversized file (413), no file (400)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import operation, resolve
from conformance.data import fixtures_dir, load_yaml
from conformance.http import Client
from conformance.run import Run
from conformance.samples import tiny_wav

AUDIO = operation("audioToText")


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


def _post(client: Client, run: Run, files: dict | None) -> object:
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
def test_transcribe(client: Client, run: Run) -> None:
    samples = _samples()
    name, payload = (samples[0][0].name, samples[0][0].read_bytes()) if samples else ("hello.wav", tiny_wav())
    ex = _post(client, run, {"file": (name, payload, "audio/wav")})
    expect_status(ex, 200)
    expect_json_body(ex, AUDIO)


@check("audio.transcription_text", "the fixture files are transcribed as fixtures/audio says", level="SHOULD")
def test_transcription_text(client: Client, run: Run) -> None:
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
def test_wrong_type(client: Client, run: Run) -> None:
    ex = _post(client, run, {"file": ("notes.txt", b"this is not audio\n" * 4, "text/plain")})
    expect_error(ex, AUDIO, 415, "unsupported_audio_type")


@check("audio.too_large", "a file over the contract's size limit (x-max-bytes) is 413 audio_too_large")
def test_too_large(client: Client, run: Run) -> None:
    wav = tiny_wav()
    big = wav + b"\0" * (_size_limit() + 1024 - len(wav))
    ex = _post(client, run, {"file": ("long.wav", big, "audio/wav")})
    expect_error(ex, AUDIO, 413, "audio_too_large")


@check("audio.missing_file", "a request without a file part is 400 no_audio_uploaded")
def test_missing_file(client: Client, run: Run) -> None:
    ex = client.call(
        "POST",
        "/audio-to-text",
        files={"other": ("x.txt", b"x", "text/plain")},
        data={"user": run.user("audio")},
        evidence_body={"user": run.user("audio")},
    )
    expect_error(ex, AUDIO, 400, "no_audio_uploaded")
