"""Deterministic "speech": text rendered as real audio, a small WAV (`speak`) or MP3 (`Mp3Voice`).

Each word becomes a short tone whose pitch comes from the word's hash, so the same text always gives
the same bytes (tests and golden files can compare them) and different texts sound different. WAV
is synthesized with the stdlib; MP3 is joined from a generated bank of encoded tones (no encoder at
run time), the format real servers answer and stream (`tts_message`).
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave
from pathlib import Path
from typing import Any

RATE = 8000  # Hz, mono, 16-bit PCM: small and playable everywhere
WORD_S = 0.09
GAP_S = 0.03
MAX_WORDS = 120  # about 14 s of audio at most, whatever the text's length
AMPLITUDE = 9000
FADE = 40  # samples of fade in/out per tone, to avoid clicks
MIME_TYPE = "audio/wav"


def _pitch(word: str) -> float:
    digest = hashlib.sha256(word.lower().encode("utf-8")).digest()
    return 220.0 + (int.from_bytes(digest[:2], "big") % 660)


def speak(text: str) -> bytes:
    """The WAV bytes of `text`: one tone per word (at most MAX_WORDS), 0.1 s of silence around."""
    words = text.split()[:MAX_WORDS] or ["..."]
    samples: list[int] = [0] * int(RATE * 0.1)
    tone, gap = int(RATE * WORD_S), int(RATE * GAP_S)
    for word in words:
        freq = _pitch(word)
        for n in range(tone):
            envelope = min(1.0, n / FADE, (tone - 1 - n) / FADE)
            samples.append(int(AMPLITUDE * envelope * math.sin(2 * math.pi * freq * n / RATE)))
        samples.extend([0] * gap)
    samples.extend([0] * int(RATE * 0.1))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return buf.getvalue()


MP3_MIME_TYPE = "audio/mpeg"


class Mp3Voice:
    """Text spoken as real MP3 without an encoder: frame runs from fixtures/voice/tones.mp3.

    Each clip of the bank is a whole number of MPEG frames encoded on its own
    (tools/make_media_fixtures.py), so clips join into a valid stream: silence, one tone per word
    (pitch from the word's hash, as in `speak`), silence. At most MAX_WORDS words.
    """

    def __init__(self, data: bytes, index: dict[str, Any]) -> None:
        clips = {str(c["name"]): data[c["offset"] : c["offset"] + c["length"]] for c in index["clips"]}
        self.silence = clips.pop("silence")
        self.tones = [clips[name] for name in sorted(clips, key=float)]

    @classmethod
    def from_directory(cls, voice_dir: Path) -> Mp3Voice | None:
        """The bank of `voice_dir`, or None when it has none (a custom --fixtures without it)."""
        from mock_server.yamlload import load_yaml

        mp3, index = voice_dir / "tones.mp3", voice_dir / "tones.yaml"
        if not (mp3.is_file() and index.is_file()):
            return None
        return cls(mp3.read_bytes(), load_yaml(index.read_text(encoding="utf-8")))

    def clips(self, text: str) -> list[bytes]:
        """The MP3 of `text` as its clips, in order (whole frames each: chunk boundaries for a stream)."""
        words = text.split()[:MAX_WORDS] or ["..."]
        tones = [
            self.tones[
                int.from_bytes(hashlib.sha256(w.lower().encode("utf-8")).digest()[:4], "big")
                % len(self.tones)
            ]
            for w in words
        ]
        return [self.silence, *tones, self.silence]

    def speak(self, text: str) -> bytes:
        return b"".join(self.clips(text))
