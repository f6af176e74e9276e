"""Paced Server-Sent Event streams: one whole frame per write, keep-alives, stop signals, faults.

A stream is a generator that yields one bytes object per SSE frame; gunicorn's gevent worker and
werkzeug both write each yielded item at once, so no frame is ever split across writes.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mock_server import jsoncodec, pid, store

PING_FRAME = b"event: ping\n\n"
COMMENT_PING = b": ping\n\n"


def data_frame(payload: dict[str, Any] | str) -> bytes:
    """`data: <compact json>\\n\\n` (or a raw string such as [DONE])."""
    if isinstance(payload, str):
        return f"data: {payload}\n\n".encode()
    return b"data: " + jsoncodec.dumps(payload) + b"\n\n"


PIECE = "\u0000piece\u0000"  # placeholder for piece_template


def piece_template(payload: dict[str, Any]) -> Callable[[str], bytes]:
    """A fast frame builder: `payload`, holding the string PIECE where the piece goes, is serialized
    once; each piece is then spliced in as a JSON string. Byte-identical to data_frame() of the
    filled-in payload; with 1,000 streams at 50 frames/s, serializing whole objects costs real CPU.
    """
    head, tail = data_frame(payload).split(jsoncodec.dumps(PIECE), 1)
    return lambda piece: head + jsoncodec.dumps(piece) + tail


@dataclass
class Pacing:
    """Time to first token, interval between tokens and jitter, all in milliseconds."""

    ttft_ms: float = 0.0
    interval_ms: float = 0.0
    jitter_ms: float = 0.0
    seed: int = 0

    def planned_s(self, n: int) -> float:
        """Seconds from the request to the last of n pieces, without jitter (the usage block's latency)."""
        return (self.ttft_ms + self.interval_ms * (n - 1)) / 1000.0 if n > 0 else 0.0

    def schedule(self, n: int, key: str) -> list[float]:
        """Offsets in seconds from the stream's start at which frames 0..n-1 are due (reproducible)."""
        if not self.jitter_ms:  # the same sums, without seeding a generator and a loop in Python
            steps = itertools.chain((self.ttft_ms,), itertools.repeat(self.interval_ms, n - 1))
            return [max(0.0, at) / 1000.0 for at in itertools.accumulate(steps)] if n else []
        rng = random.Random(f"{self.seed}|{key}")
        at, out = self.ttft_ms, []
        for i in range(n):
            if i:
                at += self.interval_ms
            jitter = rng.uniform(-self.jitter_ms, self.jitter_ms) if self.jitter_ms else 0.0
            out.append(max(0.0, at + jitter) / 1000.0)
        return out


class StopWatcher:
    """Per-process view of stop requests, fed from SQLite so a stop can come from any worker.

    One background poller per process reads new rows of the `stops` table every `poll_s`; streams
    only look at an in-memory set, which keeps 1,000 concurrent streams cheap.
    """

    def __init__(self, db_path: str, poll_s: float = 0.05) -> None:
        self.db_path = db_path
        self.poll_s = poll_s
        self._stopped: set[tuple[str, str, str]] = set()
        self._seq = 0
        self._pid = -1
        self._lock = threading.Lock()

    def _ensure_poller(self) -> None:
        if self._pid == pid.current():
            return
        with self._lock:
            if self._pid == pid.current():
                return
            self._pid = pid.current()
            conn = store.connect(self.db_path)
            try:
                row = conn.execute("SELECT COALESCE(MAX(seq), 0) AS s FROM stops").fetchone()
                self._seq = int(row["s"])
            finally:
                conn.close()
            threading.Thread(target=self._run, name="chat-mock-stop-poller", daemon=True).start()

    def _run(self) -> None:
        try:
            conn = store.connect(self.db_path)
        except Exception:  # the store is already gone (an app's private temp store removed): nothing to watch
            return
        while True:
            time.sleep(self.poll_s)
            if not os.path.exists(self.db_path):
                conn.close()
                return  # the store was removed with its app: stop polling it
            try:
                rows = store.stops_after(conn, self._seq)
            except Exception:  # a locked or reset database: try again next tick
                continue
            for row in rows:
                self._seq = max(self._seq, int(row["seq"]))
                self._stopped.add((row["task_id"], row["api_key"], row["user"]))

    def watch(self) -> None:
        self._ensure_poller()

    def mark(self, task_id: str, key: str, user: str) -> None:
        """A stop handled by this process takes effect without waiting for the poller."""
        self._stopped.add((task_id, key, user))

    def is_stopped(self, task_id: str, key: str, user: str) -> bool:
        return (task_id, key, user) in self._stopped

    def forget(self, task_id: str, key: str, user: str) -> None:
        self._stopped.discard((task_id, key, user))


@dataclass(frozen=True)
class Extra:
    """A whole frame among the pieces that is not a piece (a thought, a node, audio); paced like a
    piece. `replace` (output moderation) is the answer so far from then on; `text` marks a frame
    that is a piece of the answer as it is (a recorded piece, replayed byte for byte)."""

    frame: bytes
    replace: str | None = None
    text: str | None = None


class Wait(NamedTuple):
    """Among a plan's end frames: send the next frame no earlier than `at` seconds after the start
    (a recording's timing of its terminal and trailing frames); skipped once the stream is stopped."""

    at: float


@dataclass
class StreamPlan:
    """What a paced stream sends; the surface-specific parts are callables."""

    head: list[bytes]  # frames before the first piece (e.g. the OpenAI role chunk)
    pieces: Sequence[str | Extra]
    piece_frame: Callable[[str], bytes]
    end_frames: Callable[[list[str], bool], Sequence[bytes | Wait]]  # (pieces sent, stopped) -> the end
    error_frames: Callable[[], list[bytes]] = lambda: []  # the terminal error of an `error_after` fault
    ping: bytes = PING_FRAME
    stopped: Callable[[], bool] = lambda: False
    on_done: Callable[[list[str], bool], None] = lambda sent, complete: None  # complete: all pieces sent
    drop: Callable[[], None] = lambda: None  # closes the client's connection abruptly
    schedule: list[float] | None = None  # when each piece is due (s from the start); None: the pacing's


MALFORMED_FRAME = b'data: {"event": "message", "answer": "unterminated\n\n'


def paced(
    plan: StreamPlan,
    pacing: Pacing,
    ping_interval_s: float,
    fault: dict[str, Any] | None = None,
    stall_max_s: float = 30.0,
    key: str = "",
) -> Iterator[bytes]:
    """Yield the frames of `plan` on `pacing`'s schedule, applying mid-stream faults.

    Fault directives count the frames sent before the terminal frame(s): the head (the OpenAI role
    chunk) and the pieces; pings never count. After K frames, `disconnect_after` drops the connection
    (no terminal event, no end of the chunked body; where the server gives no socket, the body just
    ends), `stall_after` goes silent for `stall_s` (at most stall_max_s) and then ends, `error_after`
    sends the surface's terminal error event, `malformed_after` inserts one frame that is not valid
    JSON and carries on. K=0 acts right after the response headers, before any frame. A K at or past
    the number of frames the stream has (or still has when a stop ends it early) acts just before the
    terminal frame(s) (`message_end`; the finish chunk, usage chunk and `[DONE]`), never after them.
    """
    fault = fault or {}
    count = 0
    sent: list[str] = []  # the answer so far, in pieces
    stopped = False
    finished = False
    start = time.monotonic()
    schedule = plan.schedule if plan.schedule is not None else pacing.schedule(len(plan.pieces), key)
    fired: set[str] = set()

    directives = [n for n in ("malformed", "disconnect", "stall", "error") if f"{n}_after" in fault]

    def due(final: bool) -> list[str]:
        """The fault actions due after `count` frames (`final`: no frame but the terminal ones left)."""
        names = []
        for name in directives:  # usually none: 1,000 streams call this 50,000 times a second
            k = fault.get(f"{name}_after")
            if k is None or name in fired or not (k == count or (final and k > count)):
                continue
            fired.add(name)
            names.append(name)
        return names

    def wait_until(due_s: float) -> Iterator[bytes]:
        while True:
            left = start + due_s - time.monotonic()
            if left <= 0:
                return
            if ping_interval_s > 0 and left > ping_interval_s:
                time.sleep(ping_interval_s)
                if plan.stopped():
                    return
                yield plan.ping
            else:
                time.sleep(left)
                return

    def cut(names: list[str]) -> Generator[bytes, None, bool]:
        """Apply fault actions `names`; True when one of them ended the stream."""
        for what in names:
            if what == "malformed":
                yield MALFORMED_FRAME
                continue
            if count == 0:
                yield b""  # an empty write sends the response headers, ending nothing
            if what == "disconnect":
                plan.drop()
            elif what == "stall":
                time.sleep(min(float(fault.get("stall_s", stall_max_s)), stall_max_s))
            else:
                yield from plan.error_frames()
            return True
        return False

    total = len(plan.head) + len(plan.pieces)
    try:
        if (yield from cut(due(final=total == 0))):
            return
        for frame in plan.head:
            yield frame
            count += 1
            if (yield from cut(due(final=count == total))):
                return
        for i, piece in enumerate(plan.pieces):
            yield from wait_until(schedule[i])
            if plan.stopped():
                stopped = True
                if (yield from cut(due(final=True))):
                    return
                break
            if isinstance(piece, Extra):
                yield piece.frame
                if piece.replace is not None:
                    sent[:] = [piece.replace]
                elif piece.text is not None:
                    sent.append(piece.text)
            else:
                yield plan.piece_frame(piece)
                sent.append(piece)
            count += 1
            if (yield from cut(due(final=count == total))):
                return
        finished = not stopped
        for end in plan.end_frames(sent, stopped):
            if isinstance(end, Wait):
                if not stopped:
                    yield from wait_until(end.at)
                continue
            yield end
    finally:
        plan.on_done(sent, finished)
