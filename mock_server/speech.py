"""Deterministic "speech": text rendered as a small, valid WAV file (stdlib only).

Each word becomes a short tone whose pitch comes from the word's hash, so the same text always gives
the same bytes (tests and golden files can compare them) and different texts sound different.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import wave

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
