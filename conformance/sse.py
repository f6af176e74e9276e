"""An incremental Server-Sent Events parser that follows the WHATWG rules byte by byte.

Servers may end lines with LF, CRLF or CR, split a frame (or a CRLF, or a UTF-8 character) across
network writes, send comments and `event: ping` frames: a judge must accept all of that and still
see exactly the events the server meant, so the parser is fed raw bytes as they arrive.
"""

from __future__ import annotations

import codecs
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SseEvent:
    """One dispatched event. `data` is None for a frame without data lines (a ping)."""

    data: str | None
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    arrived: float = 0.0

    def item(self) -> dict[str, Any]:
        """The event as OpenAPI 3.2 `itemSchema` sees it (absent fields left out)."""
        out: dict[str, Any] = {}
        if self.event is not None:
            out["event"] = self.event
        if self.data is not None:
            out["data"] = self.data
        if self.id is not None:
            out["id"] = self.id
        if self.retry is not None:
            out["retry"] = self.retry
        return out


@dataclass
class SseParser:
    """Feed bytes with `feed`; collect events from its return value or `events`.

    Unlike a browser, a frame that has an `event:` field but no data is reported (with
    `data=None`) so the suite can see keep-alive pings. Comments are counted, not reported.
    """

    events: list[SseEvent] = field(default_factory=list)
    comments: int = 0
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))
    _line: list[str] = field(default_factory=list)
    _skip_lf: bool = False
    _bom_checked: bool = False
    _data: list[str] = field(default_factory=list)
    _has_data: bool = False
    _event: str | None = None
    _id: str | None = None
    _retry: int | None = None
    _dirty: bool = False

    def feed(self, chunk: bytes, now: float | None = None) -> list[SseEvent]:
        """Parse a chunk of the body; returns the events completed by it."""
        stamp = time.monotonic() if now is None else now
        text = self._decoder.decode(chunk)
        if not self._bom_checked and text:
            self._bom_checked = True
            text = text.removeprefix("\ufeff")
        done: list[SseEvent] = []
        start = 0
        for i, ch in enumerate(text):
            if ch == "\n" and self._skip_lf:
                self._skip_lf = False
                start = i + 1
                continue
            self._skip_lf = False
            if ch in "\r\n":
                self._line.append(text[start:i])
                self._process_line("".join(self._line), stamp, done)
                self._line = []
                start = i + 1
                self._skip_lf = ch == "\r"
        if start < len(text):
            self._line.append(text[start:])
        self.events.extend(done)
        return done

    @property
    def pending(self) -> bool:
        """True when bytes after the last dispatched event would be dropped at end of stream."""
        return self._dirty or any(self._line)

    def _process_line(self, line: str, stamp: float, done: list[SseEvent]) -> None:
        if line == "":
            self._dispatch(stamp, done)
            return
        self._dirty = True
        if line.startswith(":"):
            self.comments += 1
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self, stamp: float, done: list[SseEvent]) -> None:
        if self._has_data or self._event is not None:
            data = "\n".join(self._data) if self._has_data else None
            done.append(SseEvent(data=data, event=self._event, id=self._id, retry=self._retry, arrived=stamp))
        self._data, self._has_data, self._event, self._retry, self._dirty = [], False, None, None, False


def parse(raw: bytes) -> list[SseEvent]:
    """Parse a complete body at once (for tests and golden files)."""
    parser = SseParser()
    parser.feed(raw)
    return parser.events
