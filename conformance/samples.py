"""Small request payloads the checks build at run time (no binary files in the package)."""

from __future__ import annotations

import io
import wave


def tiny_wav() -> bytes:
    """A valid 0.01 s silent WAV file, made here so the request is well formed."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 80)
    return buf.getvalue()
