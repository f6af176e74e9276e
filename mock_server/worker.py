"""gunicorn's gevent worker, made fair: it accepts every pending connection at once instead of one
per loop turn, and yields between two requests of a keep-alive connection (see handle_request).

With more than one worker, gunicorn sets the gevent server's `max_accept` to 1 so that a burst of
connections on the shared listening socket spreads over the workers. A worker then accepts one
connection per turn of its event loop, and a turn runs every ready request and stream first: under
load a burst of 32 keep-alive connections took up to 2 s to be accepted (wrk's p99 and timeouts),
and 1,000 streams opened at once waited over a second for their first token. chat-mock runs with
`reuse_port`, so each worker has its own listening socket and the kernel spreads connections over
them; a worker can then take everything in its own queue at once without starving the others.
"""

from __future__ import annotations

from typing import Any

import gevent
from gevent.server import StreamServer
from gunicorn.workers import ggevent

MAX_ACCEPT = 100  # gevent's default


class _AcceptAllServer(StreamServer):
    @property
    def max_accept(self) -> int:
        return MAX_ACCEPT

    @max_accept.setter
    def max_accept(self, value: int) -> None:  # gunicorn's `= 1` for several workers: ignored
        pass


class GeventWorker(ggevent.GeventWorker):
    def run(self) -> None:
        ggevent.StreamServer = _AcceptAllServer  # this worker process only; run() builds its servers
        super().run()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        result = super().handle_request(listener_name, req, sock, addr)
        # Yield between two requests of a keep-alive connection. A client that answers at once has
        # its next request in the socket before we read it, so the read does not block and this
        # greenlet would serve that one connection while every other one of the worker waits.
        gevent.sleep(0)
        return result
