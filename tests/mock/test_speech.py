"""Text to speech: real, deterministic MP3 (the default, as real servers) or WAV bytes; refusals."""

from __future__ import annotations

import io
import wave

from mock_server.speech import MAX_WORDS, speak
from tests.mock.conftest import AUTH, chat
from tests.mock.mp3 import mp3_frames

WAV = {**AUTH, "Accept": "audio/wav"}


def tts(client, headers=WAV, **body):
    return client.post("/v1/text-to-audio", json={"user": "u1", **body}, headers=headers)


def _seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as clip:
        assert (clip.getnchannels(), clip.getsampwidth()) == (1, 2)
        return clip.getnframes() / clip.getframerate()


def test_text_is_spoken_as_a_wav_clip(client) -> None:
    resp = tts(client, text="Die Hard is a Christmas movie.")
    assert resp.status_code == 200 and resp.mimetype == "audio/wav"
    assert 0.5 < _seconds(resp.data) < 1.5  # six words
    assert resp.data == tts(client, text="Die Hard is a Christmas movie.").data  # deterministic
    assert resp.data != tts(client, text="Die Hard is not a Christmas movie.").data


def test_mp3_is_the_default_and_real_mp3(client) -> None:
    resp = tts(client, headers=AUTH, text="Die Hard is a Christmas movie.")
    assert resp.status_code == 200 and resp.mimetype == "audio/mpeg"
    assert mp3_frames(resp.data) == 6 * 7 + 2 * 8  # six words' tones of 7 frames, two silences of 8
    assert (
        resp.data
        == tts(
            client,
            headers={**AUTH, "Accept": "audio/mpeg, audio/wav;q=0.5"},
            text=("Die Hard is a Christmas movie."),
        ).data
    )
    assert resp.data != tts(client, headers=AUTH, text="Die Hard is not a Christmas movie.").data


def test_the_clip_is_bounded_whatever_the_text(client) -> None:
    assert _seconds(speak("word " * (MAX_WORDS * 10))) == _seconds(speak("word " * MAX_WORDS))
    assert _seconds(speak("word " * MAX_WORDS)) < 15


def test_a_message_s_answer_is_spoken(client) -> None:
    answer = chat(client, query="Which movie is the best?").json
    resp = tts(client, message_id=answer["id"], text="ignored: message_id wins")
    assert resp.status_code == 200
    assert resp.data == speak(answer["answer"])


def test_another_user_s_message_is_404(client) -> None:
    answer = chat(client, query="Which movie is the best?").json
    resp = client.post("/v1/text-to-audio", json={"user": "u2", "message_id": answer["id"]}, headers=AUTH)
    assert (resp.status_code, resp.json["message"]) == (404, "Message Not Exists.")


def test_streaming_sends_the_same_bytes_in_chunks(client) -> None:
    resp = tts(client, text="Yippee ki yay", streaming=True)
    assert "Content-Length" not in resp.headers and resp.mimetype == "audio/wav"  # chunked
    assert resp.data == speak("Yippee ki yay")


def test_neither_text_nor_message_is_400(client) -> None:
    for body in ({}, {"text": ""}, {"voice": "alloy"}):
        resp = tts(client, **body)
        assert (resp.status_code, resp.json["code"]) == (400, "invalid_param"), body


def test_without_user_the_default_user_speaks(client) -> None:
    resp = client.post("/v1/text-to-audio", json={"text": "hello"}, headers=AUTH)
    assert resp.status_code == 200
