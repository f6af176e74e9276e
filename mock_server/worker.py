"""gunicorn's gevent worker, made fair and hardened against hostile clients.

Fair: it accepts every pending connection at once instead of one per loop turn, and yields between
two requests of a keep-alive connection (see handle_request). With more than one worker, gunicorn
sets the gevent server's `max_accept` to 1 so that a burst of connections on the shared listening
socket spreads over the workers. A worker then accepts one connection per turn of its event loop,
and a turn runs every ready request and stream first: under load a burst of 32 keep-alive
connections took up to 2 s to be accepted (wrk's p99 and timeouts), and 1,000 streams opened at once
waited over a second for their first token. chat-mock runs with `reuse_port`, so each worker has its
own listening socket and the kernel spreads connections over them; a worker can then take
everything in its own queue at once without starving the others.

It also writes a response's headers and the first piece of its body in one send (gunicorn sends
them in two): one syscall fewer per request, about a tenth of a worker's time on short answers. A
stream's first write then carries the headers and the whole first frame; every frame is still
written whole, in one send.

Hardened: a request body must arrive by a deadline (BODY_TIMEOUT_S, plus a second per
BODY_MIN_RATE bytes received), as gunicorn already bounds idle keep-alives; a client that sends
headers and no body is answered 408 and disconnected instead of holding a connection slot for good.
And the errors gunicorn answers itself, before any app code runs (a request line over 4 KB: 414,
headers too large: 431, a NUL in a header: 400), come in the surface's JSON error envelope instead of
an HTML page.
"""

from __future__ import annotations

import gc
import json
import time
from typing import Any

import gevent
from gevent.server import StreamServer
from gunicorn import glogging, util
from gunicorn.http import errors as http_errors
from gunicorn.http import message, wsgi
from gunicorn.workers import ggevent
from werkzeug.exceptions import RequestTimeout

from mock_server.errors import ApiError, envelope, surface_for_path

# gunicorn's internals this module replaces in the worker (_serve) or builds on. They are no public API:
# an upgrade may move one, so they are checked as this module is imported, and chat-mock refuses to
# start with one line naming what is missing (not a traceback in each worker, nor a worker that
# quietly answers differently). Two more are used only where they exist (gunicorn >= 25 and >= 27).
GUNICORN_NAMES = (
    (glogging, "glogging", "Logger"),
    (ggevent, "ggevent", "StreamServer"),
    (ggevent, "ggevent", "GeventWorker"),
    (message, "http.message", "Request.parse"),
    (util, "util", "write_error"),
    (util, "util", "http_date"),
    (util, "util", "write_nonblock"),
    (util, "util", "is_hoppish"),
    (util, "util", "to_bytestring"),
    (wsgi, "http.wsgi", "WSGIErrorsWrapper"),
    (wsgi, "http.wsgi", "Response"),
    (http_errors, "http.errors", "ParseException"),
)


class GunicornMismatch(ImportError):
    """The installed gunicorn lacks a name the worker replaces or builds on (one line: what and why)."""


def missing_gunicorn_names() -> list[str]:
    """The dotted names of GUNICORN_NAMES that the installed gunicorn does not have."""
    missing = []
    for module, where, dotted in GUNICORN_NAMES:
        target: Any = module
        for part in dotted.split("."):
            target = getattr(target, part, None)
        if target is None:
            missing.append(f"gunicorn.{where}.{dotted}")
    return missing


def _check_gunicorn() -> None:
    missing = missing_gunicorn_names()
    if missing:
        import importlib.metadata

        try:
            version = importlib.metadata.version("gunicorn")
            requires = importlib.metadata.requires("chat-contract-kit") or []
            wanted = next((r for r in requires if r.startswith("gunicorn")), "")
        except importlib.metadata.PackageNotFoundError:
            version, wanted = "?", ""
        fix = f"; install the gunicorn the kit supports: pip install '{wanted}'" if wanted else ""
        raise GunicornMismatch(
            f"gunicorn {version} lacks {', '.join(missing)}, which mock_server/worker.py replaces or "
            f"builds on{fix}"
        )


_check_gunicorn()
ParseException = http_errors.ParseException

MAX_ACCEPT = 100  # gevent's default
BODY_TIMEOUT_S = 5.0  # set by chat-mock (--body-timeout) before gunicorn forks the workers; 0 = none
BODY_MIN_RATE = 64 * 1024  # bytes per second: each such amount received extends the deadline by 1 s


class _AcceptAllServer(StreamServer):
    @property
    def max_accept(self) -> int:
        return MAX_ACCEPT

    @max_accept.setter
    def max_accept(self, value: int) -> None:  # gunicorn's `= 1` for several workers: ignored
        pass


_GUNICORN_HTTP_DATE = util.http_date
_date_cache: list[Any] = [-1, ""]  # [second, its Date header value]


def _http_date(timestamp: float | None = None) -> str:
    """gunicorn's Date header value, formatted once a second rather than once a response (email's
    formatdate is ~2% of a short request)."""
    if timestamp is not None:
        return _GUNICORN_HTTP_DATE(timestamp)
    now = int(time.time())
    if now != _date_cache[0]:
        _date_cache[1], _date_cache[0] = _GUNICORN_HTTP_DATE(now), now
    return _date_cache[1]


_GUNICORN_IP_IN_ALLOW_LIST: Any = getattr(message, "_ip_in_allow_list", None)
_trusted_peers: dict[tuple[str, int, int], bool] = {}


def _ip_in_allow_list(ip_str: str, allow_list: Any, networks: Any) -> bool:
    """gunicorn's check of a peer against forwarded_allow_ips, remembered per peer address: gunicorn
    parses the address (ipaddress) on every request, ~3% of a short one. The lists are the worker's
    config, fixed once it runs, so their identity is part of the key."""
    key = (ip_str, id(allow_list), id(networks))
    trusted = _trusted_peers.get(key)
    if trusted is None:
        if len(_trusted_peers) >= 4096:  # a worker sees few peers; bound it anyway
            _trusted_peers.clear()
        trusted = _trusted_peers[key] = _GUNICORN_IP_IN_ALLOW_LIST(ip_str, allow_list, networks)
    return trusted


_GUNICORN_ERRORS_WRAPPER = wsgi.WSGIErrorsWrapper
_errors_wrapper: dict[int, Any] = {}  # id(cfg) -> the worker's one wsgi.errors


def _shared_errors_wrapper(cfg: Any) -> Any:
    """One wsgi.errors per worker instead of one per request (gunicorn builds a new one, with a
    logging.getLogger call, for every request: ~2% of a short one). Forgotten when the worker reopens
    its log files (SIGUSR1), as the streams it writes to are replaced then."""
    wrapper = _errors_wrapper.get(id(cfg))
    if wrapper is None:
        wrapper = _errors_wrapper[id(cfg)] = _GUNICORN_ERRORS_WRAPPER(cfg)
    return wrapper


_CHECKED_HEADERS: dict[tuple[str, str], tuple[str, str]] = {}  # see _OneSendResponse.process_headers
_CHECKED_HEADERS_MAX = 4096


def send_all(sock: Any, data: bytes) -> None:
    """sock.sendall(data) in one send() when the socket takes it all, as it does a frame or a short
    answer: gevent's sendall asks the kernel for the socket's buffer size (getsockopt) on every call
    to size its pieces, a second system call per SSE frame. A partial send finishes with sendall."""
    if not data:
        return
    sent = sock.send(data)  # gevent's send waits (cooperatively) while the buffer is full
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


class _OneSendResponse(wsgi.Response):
    """gunicorn's response, holding the header block back until the first body bytes go out."""

    _held = b""
    headers_sent: bool  # gunicorn's, set in its __init__

    def process_headers(self, headers: Any) -> None:
        """gunicorn's checks (two regular expressions, strip, hop-by-hop test) once per distinct
        ordinary header: the mock sends the same few (CORS, X-Mock-Operation, Content-Type) on
        every answer. Content-Length, hop-by-hop headers and long values always go through them."""
        for pair in headers:
            done = _CHECKED_HEADERS.get(pair) if type(pair) is tuple else None
            if done is not None:
                self.headers.append(done)
                continue
            count = len(self.headers)
            super().process_headers([pair])
            if (
                type(pair) is tuple
                and len(self.headers) == count + 1
                and len(pair[1]) <= 256
                and pair[0].lower() != "content-length"  # it sets the response's length
                and not util.is_hoppish(pair[0])
            ):
                if len(_CHECKED_HEADERS) >= _CHECKED_HEADERS_MAX:
                    _CHECKED_HEADERS.clear()
                _CHECKED_HEADERS[pair] = self.headers[-1]

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
            send_all(self.sock, held)

    def _emit_body(self, data: bytes) -> None:
        if self.chunked:  # gunicorn's write() never passes an empty chunk (that would end the body)
            data = b"%X\r\n%s\r\n" % (len(data), data)
        if self._held:
            held, self._held = self._held, b""
            data = held + data
        send_all(self.sock, data)

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


class BodyTimeout(RequestTimeout):
    """The body did not arrive in time: a 408 in the surface's envelope (the app's HTTP error
    handler renders it), then the connection closes."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"The request body did not arrive within {timeout_s:g} s.")


class DeadlineBody:
    """gunicorn's request body (wsgi.input) with a deadline on the whole body, not on each read:
    a client that drips a byte a second cannot keep a request open for ever."""

    def __init__(self, body: Any, timeout_s: float) -> None:
        self._body = body
        self._timeout_s = timeout_s
        self._start = time.monotonic()
        self._received = 0
        self.timed_out = False

    def _call(self, read: Any, *args: Any) -> Any:
        left = self._start + self._timeout_s + self._received / BODY_MIN_RATE - time.monotonic()
        if self.timed_out or left <= 0:
            self.timed_out = True
            raise BodyTimeout(self._timeout_s)
        timer = gevent.Timeout(left)
        timer.start()
        try:
            data = read(*args)
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            self.timed_out = True
            raise BodyTimeout(self._timeout_s) from None
        finally:
            timer.close()
        self._received += sum(map(len, data)) if isinstance(data, list) else len(data)
        return data

    def read(self, size: int | None = None) -> bytes:
        return self._call(self._body.read, size)

    def readline(self, size: int | None = None) -> bytes:
        return self._call(self._body.readline, size)

    def readlines(self, size: int | None = None) -> list[bytes]:
        return self._call(self._body.readlines, size)

    def __iter__(self) -> DeadlineBody:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


# ---------- gunicorn's own errors, in the surface's envelope ----------

_ERROR_PATHS: dict[Any, str] = {}  # client socket -> the path of the request gunicorn refused


class _FirstBytes:
    """An unreader that keeps the first bytes read through it (the start of the request line)."""

    def __init__(self, unreader: Any) -> None:
        self._unreader = unreader
        self.head = b""

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        data = self._unreader.read(*args, **kwargs)
        if len(self.head) < 512:
            self.head += data[:512]
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._unreader, name)


def _path_of(head: bytes) -> str:
    """The path of a request line's first bytes (`GET /v1/x?... HTTP/1.1`), or ''."""
    parts = head.split(b"\r\n", 1)[0].split(b" ")
    if len(parts) < 2 or not parts[1].startswith(b"/"):
        return ""
    return parts[1].split(b"?", 1)[0].decode("latin-1")


def _parse_keeping_path(self: Any, unreader: Any) -> Any:
    """Request.parse that tells its error which path it was parsing, even when the request line
    itself was too long to parse (a 414 on /v1/chat/completions is answered in OpenAI's envelope)."""
    recorder = _FirstBytes(unreader)
    try:
        return _GUNICORN_PARSE(self, recorder)
    except ParseException as exc:
        exc.chat_mock_path = self.path or _path_of(recorder.head)  # type: ignore[attr-defined]
        raise


_GUNICORN_PARSE = message.Request.parse


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's util.write_error, answering JSON in the envelope of the request's surface."""
    path = _ERROR_PATHS.get(sock) or ""
    err = ApiError(status_int, mesg or reason)
    body = json.dumps(envelope(surface_for_path(path), err)).encode()
    head = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if not path.startswith("/_mock"):  # as the app does: CORS for the API surfaces only
        head.append("Access-Control-Allow-Origin: *")
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


class GeventWorker(ggevent.GeventWorker):
    def run(self) -> None:
        # The app is built (contract, validators, fixtures): what exists now lives as long as the
        # worker, so the collector stops scanning it. A full collection then walks the requests' own
        # objects only: POST -3% CPU, GET p99 16 -> 11 ms (gen-2 pauses gone from the tail).
        gc.freeze()
        try:
            self._serve()
        finally:  # as the worker ends: collected as usual again, before the interpreter is torn down
            gc.unfreeze()  # (frozen, logging's handler weakrefs fired into a half-gone gevent)

    def _serve(self) -> None:
        # this worker process only; run() builds its servers and parses requests from here on
        ggevent.StreamServer = _AcceptAllServer
        message.Request.parse = _parse_keeping_path
        util.write_error = write_json_error
        util.http_date = _http_date
        wsgi.WSGIErrorsWrapper = _shared_errors_wrapper  # type: ignore[misc, assignment]
        if hasattr(message, "_ip_in_allow_list"):  # gunicorn >= 25's forwarded-header policy
            message._ip_in_allow_list = _ip_in_allow_list
        if hasattr(wsgi.Response, "_emit_body"):  # gunicorn >= 27 frames every body write there
            wsgi.Response = _OneSendResponse  # type: ignore[misc]
        super().run()

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        body = req.body
        guarded = DeadlineBody(body, BODY_TIMEOUT_S) if body is not None and BODY_TIMEOUT_S > 0 else None
        if guarded is not None:
            req.body = guarded  # wsgi.input
        try:
            result = super().handle_request(listener_name, req, sock, addr)
        finally:
            if guarded is not None:
                req.body = body
                if guarded.timed_out:  # where the next request starts is unknown: close
                    body.failed = True
        # Yield between two requests of a keep-alive connection. A client that answers at once has
        # its next request in the socket before we read it, so the read does not block and this
        # greenlet would serve that one connection while every other one of the worker waits.
        gevent.sleep(0)
        return result

    def handle_usr1(self, sig: int, frame: Any) -> None:
        _errors_wrapper.clear()  # the log files are reopened: their streams change
        super().handle_usr1(sig, frame)

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        _ERROR_PATHS[client] = getattr(req, "path", None) or getattr(exc, "chat_mock_path", None) or ""
        try:
            super().handle_error(req, client, addr, exc)
        finally:
            _ERROR_PATHS.pop(client, None)


class StartLogger(glogging.Logger):
    """gunicorn's logger, saying where the server listens: with reuse_port the master holds no socket
    (each worker binds its own), so gunicorn's `Listening at: %s (%s)` names no address."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> None:
        if msg.startswith("Listening at:") and args and not args[0]:
            where = ",".join(f"http://{bind}" for bind in self.cfg.bind)
            args = (where, *args[1:])
        super().info(msg, *args, **kwargs)
