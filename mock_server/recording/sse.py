"""Server-Sent Events read as they arrive: whole frames out of arbitrary chunks.

The recorder relays the upstream's bytes untouched and feeds a copy to a FrameReader, which cuts
them into frames (a blank line ends one; LF, CRLF and CR line ends alike, split anywhere across
chunks) and parses each into its fields (WHATWG HTML, "Server-sent events": `data` lines joined by
LF, `event`, `id`, comments).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Frame:
    data: str | None  # the joined data lines; None for a frame without data (a ping, a comment)
    event: str | None  # the `event:` field (Dify: `ping`; data frames have none)
    size: int  # bytes on the wire


class FrameTooLarge(ValueError):
    """A frame grew past the reader's bound before it ended."""


class FrameReader:
    def __init__(self, max_frame_bytes: int = 16 * 2**20) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Frame]:
        """The frames `chunk` completes (FrameTooLarge when one passes the bound)."""
        buffer = self._buffer + chunk
        # a CR at the very end may be the first half of a CRLF: keep it for the next chunk
        hold = buffer.endswith(b"\r")
        body = buffer[:-1] if hold else buffer
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *complete, rest = body.split(b"\n\n")
        self._buffer = rest + (b"\r" if hold else b"")
        if len(self._buffer) > self.max_frame_bytes:
            raise FrameTooLarge(f"an SSE frame passed {self.max_frame_bytes} bytes")
        return [frame for raw in complete if (frame := parse_frame(raw)) is not None]

    @property
    def pending(self) -> bytes:
        """Bytes of a frame that has not ended (what a cut stream leaves)."""
        return self._buffer


def parse_frame(raw: bytes) -> Frame | None:
    """The fields of one frame; None for a frame of nothing (two blank lines in a row)."""
    if not raw.strip(b"\n"):
        return None
    data: list[str] = []
    event = None
    for line in raw.decode("utf-8", "replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    return Frame("\n".join(data) if data else None, event, len(raw) + 2)
