"""gunicorn's gevent worker, made fair: it accepts every pending connection at once instead of one
per loop turn, and yields between two requests of a keep-alive connection (see handle_request).

With more than one worker, gunicorn sets the gevent server's `max_accept` to 1 so that a burst of
connections on the shared listening socket spreads over the workers. A worker then accepts one
connection per turn of its event loop, and a turn runs every ready request and stream first: under
load a burst of 32 keep-alive connections took up to 2 s to be accepted (wrk's p99 and timeouts),
and 1,000 streams opened at once waited over a second for their first token. chat-mock runs with
`reuse_port`, so each worker has its own listening socket and the kernel spreads connections over
them; a worker can then take everything in its own queue at once without starving the others.

It also writes a response's headers and the first piece of its body in one send (gunicorn sends
them in two): one syscall fewer per request, about a tenth of a worker's time on short answers. A
stream's first write then carries the headers and the whole first frame; every frame is still
written whole, in one send.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.server import StreamServer
from gunicorn import util
from gunicorn.http import wsgi
from gunicorn.workers import ggevent

MAX_ACCEPT = 100  # gevent's default


class _AcceptAllServer(StreamServer):
    @property
    def max_accept(self) -> int:
        return MAX_ACCEPT

    @max_accept.setter
    def max_accept(self, value: int) -> None:  # gunicorn's `= 1` for several workers: ignored
        pass


class _OneSendResponse(wsgi.Response):
    """gunicorn's response, holding the header block back until the first body bytes go out."""

    _held = b""

    def send_headers(self) -> None:
        if self.headers_sent:
            return
        lines = self.default_headers()
        lines.extend(f"{k}: {v}\r\n" for k, v in self.headers)
        self._held = util.to_bytestring("".join(lines) + "\r\n", "latin-1")
        self.headers_sent = True

    def _send_held(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            util.write(self.sock, held)

    def _emit_body(self, data: bytes) -> None:
        if not self._held:
            util.write(self.sock, data, self.chunked)
            return
        held, self._held = self._held, b""
        if self.chunked:
            data = b"%X\r\n%s\r\n" % (len(data), data)
        self.sock.sendall(held + data)

    def write(self, arg: bytes) -> None:
        super().write(arg)
        self._send_held()  # a write that put no body bytes out (b"" sends the headers alone)

    def can_sendfile(self) -> bool:
        return False  # sendfile() writes the headers itself, then the file: written by write() instead

    def close(self) -> None:
        if not self.headers_sent:
            self.send_headers()
        self._send_held()
        super().close()


class GeventWorker(ggevent.GeventWorker):
    def run(self) -> None:
        ggevent.StreamServer = _AcceptAllServer  # this worker process only; run() builds its servers
        if hasattr(wsgi.Response, "_emit_body"):  # gunicorn >= 27 frames every body write there
            wsgi.Response = _OneSendResponse  # type: ignore[misc]
        super().run()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        result = super().handle_request(listener_name, req, sock, addr)
        # Yield between two requests of a keep-alive connection. A client that answers at once has
        # its next request in the socket before we read it, so the read does not block and this
        # greenlet would serve that one connection while every other one of the worker waits.
        gevent.sleep(0)
        return result
