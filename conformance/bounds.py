"""Bounds on what a server under test can cost the suite: wall-clock deadlines and body sizes.

A socket read timeout alone bounds nothing: a server that sends one byte every 2 s never trips a
10 s read timeout, and one that sends 2 GB fills memory. So every exchange gets a wall-clock
deadline, enforced by one watchdog thread that shuts the exchange's socket down when it passes
(that ends a blocked read wherever it is: status line, headers or body), and a cap on the bytes
read of any body. The run as a whole gets a `Budget` (--max-time) that caps every deadline.

`BoundedAdapter` is a requests transport adapter that applies all of this to any
`requests.Session` (the suite's own client and schemathesis' session alike).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MB = 1024 * 1024
DEFAULT_MAX_BODY_MB = 8.0  # far more than any answer of these APIs (the largest golden stream is 16 KB)
DEFAULT_MAX_TIME = 900.0  # seconds: a full run against the mock takes a few minutes, fuzzing included
READ_SIZE = 16384  # small reads: the deadline and the cap are checked between them


class BoundExceeded(requests.RequestException):
    """An answer that broke one of the suite's bounds; `str()` is the finding, in the user's words."""


class DeadlineExceeded(BoundExceeded, requests.Timeout):
    """No complete answer before the exchange's wall-clock deadline."""


class OutOfTime(DeadlineExceeded):
    """Cut by the run's (or fuzzing's) time limit rather than the exchange's own deadline: no finding."""


class BodyTooLarge(BoundExceeded):
    """The body went past the cap; reading stopped there (the rest was never read)."""


class BodyCut(BoundExceeded, requests.ConnectionError):
    """The connection closed before the body was complete."""


class BudgetSpent(Exception):
    """The run's time budget (--max-time) is spent: the work asked for is not done (a skip, not a failure)."""


def megabytes(n: int) -> str:
    return f"{n / MB:g} MB"


@dataclass
class Budget:
    """The run's total time budget. After `spent`, checks are not run; cleanup gets `grace` more seconds.

    A budget `within` another (fuzzing's, within the run's) is spent when either is. `halt` spends it
    early, with the reason (the server does not answer: see `Silence`).
    """

    max_time: float = DEFAULT_MAX_TIME
    started: float = field(default_factory=time.monotonic)
    grace: float = 0.0
    stopped_at: float | None = None  # when the budget was first found spent
    within: Budget | None = None
    halted: str = ""  # why the run stopped before its time was spent
    silence: Silence | None = None  # watches for a server that does not answer (the run's budget)

    def __post_init__(self) -> None:
        if self.within is not None and self.silence is None:
            self.silence = self.within.silence

    @property
    def ends_at(self) -> float:
        own = self.started + self.max_time + self.grace
        return own if self.within is None else min(own, self.within.ends_at)

    def remaining(self) -> float:
        return max(0.0, self.ends_at - time.monotonic())

    def spent(self) -> bool:
        over = time.monotonic() >= self.ends_at
        if over and self.stopped_at is None:
            self.stopped_at = time.monotonic()
        return over

    def allow_cleanup(self, seconds: float) -> None:
        """Give the run's cleanup (deleting what it created) `seconds` beyond the budget."""
        self.grace = max(self.grace, time.monotonic() - self.started - self.max_time + seconds)

    def halt(self, reason: str) -> None:
        """Spend the budget now: what is left is not run, for `reason`."""
        if not self.halted:
            self.halted = reason
            self.max_time = min(self.max_time, time.monotonic() - self.started)

    def halt_reason(self) -> str:
        """Why this budget (or the one it is within) was halted, or ""."""
        return self.halted or (self.within.halt_reason() if self.within is not None else "")

    def why(self) -> str:
        return self.halt_reason() or f"the run's time budget (--max-time {self.max_time:g} s) is spent"


SILENT_EXCHANGES = 3  # exchanges in a row without an answer in time (on 2+ operations): the server is silent


class Silence:
    """Watches every exchange of a run for a server that does not answer at all.

    A server that drips every answer, or never ends a stream, makes each exchange wait out its
    deadline, and a run would spend its whole budget (15 minutes by default) learning that nothing
    answers. After SILENT_EXCHANGES exchanges in a row that all hit their deadline (the wall-clock
    deadline, or a read timeout), on at least two operations (one hanging operation is a finding of
    its own, S14), the run concludes that the server does not answer: it halts the run's budget, so
    the checks left are reported as not run with that reason. Any exchange that ends in time (even
    with a cut or oversized body: the server is there) starts the count again.
    """

    def __init__(self, budget: Budget, needed: int = SILENT_EXCHANGES) -> None:
        self.budget = budget
        self.needed = needed
        self.streak: list[str] = []
        self._lock = threading.Lock()

    def answered(self) -> None:
        with self._lock:
            self.streak.clear()

    def no_answer(self, what: str, why: str) -> None:
        with self._lock:
            self.streak.append(f"{what} ({why})")
            operations = {entry.split(" (", 1)[0] for entry in self.streak}
            if len(self.streak) < self.needed or len(operations) < 2 or self.budget.halted:
                return
            shown = "; ".join(self.streak[-self.needed :])
        self.budget.halt(
            f"the server does not answer: {self.needed} exchanges in a row got no answer within their "
            f"deadline ({shown})"
        )


def exchange_name(method: str, url: str) -> str:
    """`METHOD /path` of a request, ids (segments of 4+ characters with a digit) elided: one name per
    operation (`/v1` stays)."""
    parts = urlsplit(url).path.split("/")
    return f"{method.upper()} " + "/".join(
        "{}" if len(p) > 3 and any(c.isdigit() for c in p) else p for p in parts
    )


@dataclass
class Limits:
    """Per-exchange bounds: `wall_time` seconds for the whole exchange, `max_body` bytes of any body."""

    wall_time: float = 30.0
    max_body: int = int(DEFAULT_MAX_BODY_MB * MB)
    budget: Budget | None = None

    @property
    def silence(self) -> Silence | None:
        return self.budget.silence if self.budget is not None else None

    def deadline(self, start: float | None = None) -> float:
        """The wall-clock deadline of an exchange starting now (capped by the run's budget)."""
        end = (time.monotonic() if start is None else start) + self.wall_time
        return end if self.budget is None else min(end, self.budget.ends_at)

    def guard(self, start: float | None = None) -> Guard:
        """An armed guard for an exchange starting now, knowing which bound its deadline is."""
        start = time.monotonic() if start is None else start
        deadline = self.deadline(start)
        return WATCHDOG.watch(Guard(deadline, budget_bound=deadline < start + self.wall_time))


# ---------------------------------------------------------------- the watchdog


class Guard:
    """One exchange's deadline: the socket(s) it uses are shut down when the deadline passes."""

    def __init__(self, deadline: float, budget_bound: bool = False):
        self.deadline = deadline
        self.budget_bound = budget_bound  # the deadline is the run's time limit, not the exchange's own
        self.fired = False
        self.released = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def attach(self, sock: Any) -> None:
        with self._lock:
            if self.released or sock is None:
                return
            self._sockets.append(sock)
            fired = self.fired
        if fired:
            _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            if self.released:
                return
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shutdown(sock)

    def release(self) -> None:
        with self._lock:
            self.released = True
            self._sockets.clear()


def _shutdown(sock: Any) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sock.shutdown(socket.SHUT_RDWR)  # a blocked recv() in another thread returns at once


class Watchdog:
    """One daemon thread firing guards at their deadlines (cheaper than a timer thread per request)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Guard]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, guard: Guard) -> Guard:
        with self._cond:
            heapq.heappush(self._heap, (guard.deadline, next(self._counter), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="conformance-watchdog", daemon=True)
                self._thread.start()
            if self._heap[0][2] is guard:  # the earliest deadline now: the sleeper must wake sooner
                self._cond.notify()  # (a later one waits its turn: no wake-up per request under load)
        return guard

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2].released:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait(timeout=30)
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(timeout=min(wait, 30))
                    continue
                _, _, guard = heapq.heappop(self._heap)
            guard.fire()


WATCHDOG = Watchdog()
_current = threading.local()


@contextlib.contextmanager
def guarded(guard: Guard) -> Iterator[Guard]:
    """Use an armed guard for the exchanges made in this block by this thread (redirect hops included)."""
    previous = getattr(_current, "guard", None)
    _current.guard = guard
    try:
        yield guard
    finally:
        _current.guard = previous
        guard.release()


def abort_current() -> None:
    """End this thread's exchange in progress now (e.g. from a signal handler)."""
    guard = getattr(_current, "guard", None)
    if guard is not None:
        guard.fire()


class _WatchedConnection(HTTPConnection):
    """Hands its socket to the thread's guard before the answer is read (the status line may drip too)."""

    def getresponse(self) -> Any:  # type: ignore[override]
        guard = getattr(_current, "guard", None)
        if guard is not None:
            guard.attach(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self) -> Any:  # type: ignore[override]
        guard = getattr(_current, "guard", None)
        if guard is not None:
            guard.attach(self.sock)
        return super().getresponse()


class _Pool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# ---------------------------------------------------------------- reading bodies within the bounds


class BoundedBody:
    """Reads one urllib3 body in small pieces within a guard's deadline and a byte cap.

    A short body is urllib3's to detect (it enforces Content-Length and the chunked framing); this
    turns its error into the finding.

    Raises `DeadlineExceeded`, `BodyTooLarge` or `BodyCut` (with the finding as its message)
    instead of whatever low-level error the cut socket produced.
    """

    def __init__(
        self,
        raw: urllib3.BaseHTTPResponse,
        guard: Guard,
        max_body: int,
        wall_time: float,
        silence: Silence | None = None,
        what: str = "",
    ):
        self.raw = raw
        self.guard = guard
        self.max_body = max_body
        self.wall_time = wall_time
        self.received = 0  # decoded bytes handed out
        self.expected = _content_length(raw)
        self.silence = silence  # told how the exchange ended (once): see Silence
        self.what = what

    def _ended(self, answered: bool, why: str = "") -> None:
        silence, self.silence = self.silence, None
        if silence is not None:
            silence.answered() if answered else silence.no_answer(self.what, why)

    def read1(self, amt: int = READ_SIZE) -> bytes:
        """The next bytes as soon as some arrive (b"" at the end of the body)."""
        if time.monotonic() >= self.guard.deadline:
            self.guard.fire()
            raise self._late()
        try:
            chunk = self.raw.read1(min(amt, READ_SIZE))
        except Exception as exc:  # noqa: BLE001 - every low-level read error is translated below
            raise self._translate(exc) from exc
        if not chunk and self.guard.fired:
            raise self._late()
        if not chunk:
            self._ended(answered=True)
        self.received += len(chunk)
        if self.received > self.max_body:
            self.guard.fire()  # drops the connection: the rest is never read
            self._ended(answered=True)  # plenty came: the server is there
            raise BodyTooLarge(f"the body exceeded {megabytes(self.max_body)} (reading stopped there)")
        return chunk

    def chunks(self) -> Iterator[bytes]:
        while True:
            chunk = self.read1()
            if not chunk:
                return
            yield chunk

    def _wire_bytes(self) -> int:
        try:
            return int(self.raw.tell())
        except (AttributeError, TypeError, ValueError):
            return self.received

    def _late(self) -> DeadlineExceeded:
        if self.guard.budget_bound:
            return OutOfTime("the run's time limit was reached while the body was arriving")
        self._ended(answered=False, why=f"the body was still arriving after {self.wall_time:g} s")
        of = f" of {self.expected}" if self.expected is not None else ""
        return DeadlineExceeded(
            f"no complete answer within {self.wall_time:g} s (wall-clock deadline): "
            f"{self._wire_bytes()}{of} bytes of the body had arrived"
        )

    def _cut(self) -> BodyCut:
        got = self._wire_bytes()
        if self.expected is not None:
            return BodyCut(f"the body was cut after {got} of {self.expected} bytes (connection closed)")
        return BodyCut(
            f"the body was cut after {got} bytes: the connection closed before the chunked body's last chunk"
        )

    def _translate(self, exc: Exception) -> Exception:
        if self.guard.fired:
            return self._late()
        if isinstance(exc, BoundExceeded):
            return exc
        text = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, urllib3.exceptions.ReadTimeoutError) or "timed out" in text:
            self._ended(answered=False, why="the body stalled")
            return requests.ReadTimeout(f"stalled: no bytes within the read timeout ({text[:150]})")
        self._ended(answered=True)  # cut or undecodable, but the server is there
        if isinstance(exc, urllib3.exceptions.DecodeError):
            return requests.exceptions.ContentDecodingError(text[:200])
        if isinstance(exc, urllib3.exceptions.ProtocolError | OSError) or "IncompleteRead" in text:
            return self._cut()
        return requests.ConnectionError(text[:200])


def _content_length(raw: Any) -> int | None:
    value = (getattr(raw, "headers", None) or {}).get("content-length")
    if value is None or "," in str(value) or (getattr(raw, "headers", {}) or {}).get("content-encoding"):
        return None  # compressed bodies: the decoded count cannot be compared with the wire length
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n >= 0 else None


class _CappedRaw:
    """A response's `raw` for code that reads bodies itself (requests' `.content`, schemathesis)."""

    def __init__(self, body: BoundedBody, owns_guard: bool):
        self._body = body
        self._owns_guard = owns_guard  # False inside `guarded()`: the caller's block releases it

    def stream(self, amt: int = READ_SIZE, decode_content: bool | None = None) -> Iterator[bytes]:  # noqa: ARG002
        try:
            yield from self._body.chunks()
        finally:
            if self._owns_guard:
                self._body.guard.release()

    def read(self, amt: int | None = None, decode_content: bool | None = None, **_: Any) -> bytes:  # noqa: ARG002
        if amt is not None:
            return self._body.read1(amt)
        out = bytearray()
        for chunk in self._body.chunks():
            out.extend(chunk)
        return bytes(out)

    def read1(self, amt: int = READ_SIZE, decode_content: bool | None = None) -> bytes:  # noqa: ARG002
        return self._body.read1(amt)

    def close(self) -> None:
        try:
            self._body.raw.close()
        finally:
            if self._owns_guard:  # a body closed unread (e.g. only the status mattered)
                self._body.guard.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body.raw, name)


class BoundedAdapter(HTTPAdapter):
    """A transport adapter bounding every exchange it sends (see the module docstring).

    With `stream=True` the caller reads the body through `response.raw` (a capped reader) and must
    close the response; the adapter's guard is then released by `release(response)`.
    """

    def __init__(self, limits: Limits, **kwargs: Any):
        self.limits = limits
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _HTTPSPool}

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        start = time.monotonic()
        outer = getattr(_current, "guard", None)
        guard = outer if outer is not None else self.limits.guard(start)
        _current.guard = guard
        silence, what = self.limits.silence, exchange_name(request.method or "GET", request.url or "")
        try:
            response = super().send(request, stream=True, **kwargs)
        except Exception as exc:
            if outer is None:
                guard.release()
            if guard.fired and guard.budget_bound:
                raise OutOfTime("the run's time limit was reached before the answer came") from exc
            if guard.fired:
                if silence is not None:
                    silence.no_answer(what, f"no status line after {self.limits.wall_time:g} s")
                raise DeadlineExceeded(
                    f"no answer within {self.limits.wall_time:g} s (wall-clock deadline): "
                    "the status line and headers had not arrived"
                ) from exc
            if silence is not None and isinstance(exc, requests.Timeout):
                silence.no_answer(what, "no status line within the read timeout")
            raise
        finally:
            _current.guard = outer
        body = BoundedBody(
            response.raw, guard, self.limits.max_body, self.limits.wall_time, silence=silence, what=what
        )
        response.raw = _CappedRaw(body, owns_guard=outer is None)
        if not stream:
            response.content  # noqa: B018 -- read now, within the bounds (requests would read it anyway)
            if outer is None:
                guard.release()
        return response
