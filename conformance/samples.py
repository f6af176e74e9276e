"""Small request payloads the checks build at run time (no binary files in the package)."""

from __future__ import annotations

import io
import struct
import wave
import zlib


def tiny_wav() -> bytes:
    """A valid 0.01 s silent WAV file, made here so the request is well formed."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 80)
    return buf.getvalue()


def tiny_png(width: int = 4, height: int = 4, seed: int = 0) -> bytes:
    """A valid RGB PNG image (stdlib zlib); `seed` varies the pixels so two uploads differ."""
    raw = b"".join(
        b"\0" + bytes((x * 60 + seed) % 256 for x in range(width) for _ in range(3)) for _ in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body
