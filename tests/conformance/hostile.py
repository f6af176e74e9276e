"""Hostile servers for the suite's own bounds: a few lines each, on a loopback port, bounded loops.

Each handler gets the accepted socket (the request already read) and a `stop` event that is set
when the test leaves the `hostile_server` block; every loop is bounded in count and time as well.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator

Handler = Callable[[socket.socket, threading.Event], None]
LIFETIME = 120.0  # no hostile server outlives this, whatever the test does


def read_request(conn: socket.socket) -> bytes:
    """The request head and whatever body came with it (enough for these servers)."""
    conn.settimeout(5)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return data


@contextlib.contextmanager
def hostile_server(handler: Handler, accepted: threading.Event | None = None) -> Iterator[str]:
    """Serve `handler` on 127.0.0.1 (one thread per connection); yields the root URL.

    `accepted` is set when the first connection comes (e.g. to signal a run once it has started).
    """
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    born = time.monotonic()

    def serve_one(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            read_request(conn)
            handler(conn, stop)

    def accept_loop() -> None:
        while not stop.is_set() and time.monotonic() - born < LIFETIME:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if accepted is not None:
                accepted.set()
            threading.Thread(target=serve_one, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def drip(conn: socket.socket, stop: threading.Event, data: bytes, every: float) -> None:
    """Send `data` one byte every `every` seconds (until stopped or the client goes away)."""
    for byte in data:
        if stop.wait(every):
            return
        conn.sendall(bytes([byte]))


def head(status: str = "200 OK", ctype: str = "application/json", length: int | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {ctype}", "Connection: close"]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# ---------------------------------------------------------------- the servers


def drip_status_line(conn: socket.socket, stop: threading.Event) -> None:
    """The status line and headers arrive one byte per second: no read ever times out."""
    drip(conn, stop, head(length=2) + b"{}", every=1.0)


def drip_body(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(head(length=1000))
    drip(conn, stop, b"x" * 1000, every=1.0)


def endless_sse(conn: socket.socket, stop: threading.Event) -> None:
    """An SSE stream that never ends: a ping every 0.2 s."""
    conn.sendall(head(ctype="text/event-stream"))
    for _ in range(600):
        if stop.wait(0.2):
            return
        conn.sendall(chunk(b"event: ping\n\n"))


def huge_body(conn: socket.socket, stop: threading.Event) -> None:
    """A 2 GB answer (sent until the client hangs up: the suite must not read it)."""
    block = b"0" * 65536
    conn.sendall(head(length=2 * 1024**3))
    for _ in range(2 * 1024**3 // len(block)):
        if stop.is_set():
            return
        conn.sendall(block)


def huge_chunked_body(conn: socket.socket, stop: threading.Event) -> None:
    block = chunk(b"[" * 65536)
    conn.sendall(head())
    for _ in range(32768):
        if stop.is_set():
            return
        conn.sendall(block)


def cut_body(conn: socket.socket, stop: threading.Event) -> None:  # noqa: ARG001
    """Content-Length 100, then the connection closes after 10 bytes."""
    conn.sendall(head(length=100) + b'{"answer":')


def cut_chunked_body(conn: socket.socket, stop: threading.Event) -> None:  # noqa: ARG001
    conn.sendall(head() + chunk(b'{"answer":'))


def redirect_forever(conn: socket.socket, stop: threading.Event) -> None:  # noqa: ARG001
    conn.sendall(
        b"HTTP/1.1 302 Found\r\nLocation: /v1/again\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )


def drip_but_one_in_three() -> Handler:
    """A server that drips the bodies of two connections, then answers the third at once (`200 {}`):
    slow, but it answers, so no run concludes that it does not (what stops such a run is its budget)."""
    turn = itertools.count()

    def handler(conn: socket.socket, stop: threading.Event) -> None:
        if next(turn) % 3 == 2:
            conn.sendall(head(length=2) + b"{}")
        else:
            drip_body(conn, stop)

    return handler


def never_answers(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts, reads the request, and says nothing."""
    stop.wait(LIFETIME)
