"""HTTP access for the checks: every call has timeouts and leaves evidence for the report.

A server under test may hang, drip, stall mid-stream, cut a body or answer gigabytes; each call
returns an `Exchange` (or a `StreamResult`) that records what was sent and what came back, so a
failing check can say exactly which request, which answer, and why. Nothing here raises on a bad
answer. Every exchange is bounded in wall time and bytes read (conformance.bounds); the only
exception raised is `BudgetSpent`, when the run's --max-time is over (the check is then not run).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from conformance import clip
from conformance.bounds import (
    DEFAULT_MAX_BODY_MB,
    MB,
    WATCHDOG,
    BodyTooLarge,
    BoundedAdapter,
    BoundExceeded,
    Budget,
    BudgetSpent,
    DeadlineExceeded,
    Guard,
    Limits,
    OutOfTime,
    guarded,
)
from conformance.causes import Blocked, Cause, hang_cause
from conformance.sse import SseEvent, SseParser

SNIPPET = 300
# Bodies in the evidence are whole up to this many characters (a page of history, an error, a record);
# a longer one keeps its head and its tail (clip.body), where what differs between two answers shows.
BODY_SHOWN = 4000


def _short(value: Any, limit: int = BODY_SHOWN) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return clip.body(text, limit)


@dataclass
class Exchange:
    """One request and what came back.

    `status` is None when no complete answer came (refused, timed out, cut, too large); the status
    line that did come, if any, is then `partial_status` and `error` says what went wrong.
    """

    method: str
    url: str
    request_body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    content: bytes = b""  # the body as received (binary answers: files, audio)
    error: str | None = None
    elapsed: float = 0.0
    auth_note: str = ""
    partial_status: int | None = None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The parsed body, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def request_line(self) -> str:
        body = "" if self.request_body is None else " " + _short(self.request_body)
        note = f" [{self.auth_note}]" if self.auth_note else ""
        return f"{self.method} {self.url}{note}{body}"

    def answer_line(self) -> str:
        if self.status is None:
            if self.partial_status is not None:
                ctype = self.headers.get("content-type", "")
                came = f"{self.partial_status} {ctype}".strip()
                return f"no complete answer ({came}): {self.error}"
            return f"no answer: {self.error}"
        ctype = self.headers.get("content-type", "")
        return f"{self.status} {ctype} {_short(self.text) if self.text else '(empty body)'}"

    def evidence(self) -> str:
        return f"request: {self.request_line()}\n  answer: {self.answer_line()}"


@dataclass
class StreamResult:
    """A streamed answer: parsed events with arrival times, and how the stream ended."""

    exchange: Exchange
    events: list[SseEvent] = field(default_factory=list)
    comments: int = 0
    raw: bytes = b""
    started: float = 0.0
    headers_at: float | None = None
    ended: float | None = None
    end_reason: str = ""
    pending_at_end: bool = False
    chunks: int = 0

    @property
    def complete(self) -> bool:
        return self.end_reason == "closed"

    def data_events(self) -> list[SseEvent]:
        return [e for e in self.events if e.data is not None]

    def json_events(self) -> list[dict[str, Any]]:
        out = []
        for e in self.data_events():
            try:
                value = json.loads(e.data or "")
            except ValueError:
                continue
            if isinstance(value, dict):
                out.append(value)
        return out

    def evidence(self) -> str:
        """The request, how the stream ended, and its first and last frames (where a defect at the
        end shows: a missing terminal event, a stall, an event after the end), bounded in size."""
        return (
            f"request: {self.exchange.request_line()}\n  answer: {self.exchange.status} "
            f"{self.exchange.headers.get('content-type', '')}; {len(self.events)} events, "
            f"{len(self.raw)} bytes, ended: {self.end_reason}\n" + body_excerpt(self.raw)
        )


FIRST_FRAMES, LAST_FRAMES, FRAME_CHARS = 2, 4, 240


def body_excerpt(raw: bytes) -> str:
    """The first and the last frames of a stream body, each clipped, with what was left out between.

    A stream's defects are mostly at its end (no terminal event, a stall, something after the end):
    showing only its first kilobytes hides them. At most FIRST_FRAMES + LAST_FRAMES frames of at
    most FRAME_CHARS characters each are shown (under 2 KB of evidence per stream).
    """
    frames = [f for f in re.split(rb"\r?\n\r?\n|\r\r", raw) if f.strip()]
    if not frames:
        return "  body: (empty)"

    def show(i: int) -> str:
        text = frames[i].decode("utf-8", "replace")
        clipped = clip.body(text, FRAME_CHARS)  # its head and its tail: an event's end tells it apart
        return f"  frame {i + 1}: {clipped!r}"

    if len(frames) <= FIRST_FRAMES + LAST_FRAMES:
        lines = [show(i) for i in range(len(frames))]
    else:
        hidden = len(frames) - FIRST_FRAMES - LAST_FRAMES
        lines = [show(i) for i in range(FIRST_FRAMES)]
        lines.append(f"  ... {hidden} frame(s) not shown ...")
        lines += [show(i) for i in range(len(frames) - LAST_FRAMES, len(frames))]
    tail = "" if raw.endswith((b"\n\n", b"\r\n\r\n")) else "  (the body does not end with a blank line)"
    return "\n".join(lines + ([tail] if tail else []))


def describe_auth(auth: str | None, header: str | None) -> str:
    """How a non-default request authenticated, for the evidence; keys are never shown whole."""
    if auth == "default":
        return ""
    if header is None:
        return "no Authorization header"
    scheme, _, rest = header.partition(" ")
    shown = f"{scheme} {rest[:4]}..." if rest else f"{header[:4]}..."
    return f"Authorization: {shown}"


PROBE_READ, PROBE_WALL = 1.0, 5.0  # seconds: the bounds of a request to an operation that hung before


@dataclass
class Hang:
    """The first hang of one operation in a run: what was asked, why it counts, its evidence."""

    method: str
    url: str
    reason: str
    streamed: bool
    evidence: str
    confirmed: bool = False  # a probe hung too: later requests are not sent

    def cause(self) -> Cause:
        return hang_cause(self.method, self.url, self.reason, self.streamed)


class Client:
    """A small HTTP client bound to one base URL and key; every exchange is bounded.

    `timeout` is the connect/read inactivity timeout; `stream_timeout` the wall-clock deadline of a
    whole exchange (status line, headers and body, or a whole stream); `max_body_mb` caps what is
    read of any body; `budget` (the run's --max-time) caps every deadline.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 10.0,
        stream_timeout: float = 30.0,
        *,
        max_body_mb: float = DEFAULT_MAX_BODY_MB,
        budget: Budget | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.budget = budget
        self.limits = Limits(wall_time=stream_timeout, max_body=int(max_body_mb * MB), budget=budget)
        self.session = requests.Session()
        adapter = BoundedAdapter(self.limits)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.calls = 0
        self.refused = 0
        # operation (and stream) -> its first hang (see _hung): the first hang marks the operation,
        # the next request to it is a short probe, and once a probe hangs too nothing more is sent
        self.hangs: dict[str, Hang] = {}

    def _route(self, method: str, url: str, streamed: bool) -> str:
        """The operation a request is for, without the contract: ids (segments with digits) elided."""
        path = url[len(self.base_url) :].split("?")[0] if url.startswith(self.base_url) else url
        parts = ["{}" if any(c.isdigit() for c in part) else part for part in path.split("/")]
        return f"{method.upper()} {'/'.join(parts)}{' stream' if streamed else ''}"

    def _hung(self, method: str, url: str, streamed: bool) -> Hang | None:
        """The earlier hang of this operation, if any; `Blocked` once the hang is confirmed.

        After a first hang a request is still sent, as a probe with short bounds (a server may
        refuse bad input at once while its answers hang): it is judged if it answers, and blocked
        by the first hang (which it confirms) if it does not. Once confirmed, nothing more is sent.
        """
        found = self.hangs.get(self._route(method, url, streamed))
        if found is not None and found.confirmed:
            raise Blocked(
                found.cause(), f"not sent: {found.cause().title} earlier in this run", [found.evidence]
            )
        return found

    def _probe_failed(self, hang: Hang, exc: Exception | None) -> None:
        """A probe that hung too: the operation's hang is confirmed, the check blocked by the first."""
        if exc is None or isinstance(exc, OutOfTime) or not isinstance(exc, requests.Timeout):
            return
        hang.confirmed = True
        cause = hang.cause()
        raise Blocked(
            cause, f"no answer within the {PROBE_READ:g} s probe after: {cause.title}", [hang.evidence]
        )

    def _note_hang(
        self,
        ex: Exchange,
        exc: Exception,
        streamed: bool,
        evidence: Callable[[], str] | None = None,
        reason: str = "",
    ) -> None:
        """Mark the operation when `exc` is a hang (a deadline or a read timeout, not the run's budget)."""
        if isinstance(exc, OutOfTime) or not isinstance(exc, requests.Timeout):
            return
        key = self._route(ex.method, ex.url, streamed)
        if key not in self.hangs:
            if not reason:
                if isinstance(exc, DeadlineExceeded):
                    reason = str(exc).split(":")[0]
                elif isinstance(exc, requests.ConnectTimeout):
                    reason = f"no connection within {min(self.timeout, 10.0):g} s"
                else:
                    reason = f"no bytes within the read timeout ({self.timeout:g} s)"
            shown = evidence() if evidence is not None else ex.evidence()
            self.hangs[key] = Hang(ex.method, ex.url, reason, streamed, shown)

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.base_url + path + (("?" + urlencode(query)) if query else "")

    def _headers(self, auth: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {} if auth is None else {"Authorization": auth}
        headers.update(extra or {})
        return headers

    def bearer(self) -> str:
        return f"Bearer {self.api_key}"

    def _begin(self, probe: bool = False) -> tuple[float, Guard]:
        """(start, armed guard) of a new exchange; `BudgetSpent` when the run has no time left."""
        if self.budget is not None and self.budget.spent():
            raise BudgetSpent(self.budget.why())
        start = time.monotonic()
        if not probe:
            return start, self.limits.guard(start)
        wall = min(self.limits.wall_time, PROBE_WALL)
        deadline = min(self.limits.deadline(start), start + wall)
        return start, WATCHDOG.watch(Guard(deadline, budget_bound=deadline < start + wall))

    def _over_budget(self, exc: Exception) -> None:
        """A deadline that was the run's budget, not the exchange's own: the check is not run."""
        if isinstance(exc, OutOfTime):
            raise BudgetSpent(self.budget.why() if self.budget else str(exc)) from exc

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        auth: str | None = "default",
        headers: dict[str, str] | None = None,
        data: Any = None,
        files: Any = None,
        raw_body: bytes | None = None,
        evidence_body: Any = None,
        mark_hang: bool = True,
    ) -> Exchange:
        """Send one request; `auth="default"` uses the configured key, None sends no header.

        `mark_hang=False` for a call no check judges (e.g. reading the app's form): its hang
        must not block the check that judges the operation.
        """
        auth_header = self.bearer() if auth == "default" else auth
        url = self.url(path, params)
        earlier = self._hung(method, url, streamed=False)
        shown = evidence_body if evidence_body is not None else json_body if json_body is not None else data
        ex = Exchange(method, url, shown, auth_note=describe_auth(auth, auth_header))
        kwargs: dict[str, Any] = {
            "headers": self._headers(auth_header, headers),
            "timeout": self._tmo(probe=earlier is not None),
        }
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        if files is not None:
            kwargs["files"] = files
        if raw_body is not None:
            kwargs["data"] = raw_body
        start, guard = self._begin(probe=earlier is not None)
        self.calls += 1
        body = bytearray()
        try:
            with guarded(guard):
                resp = self.session.request(method, url, stream=True, **kwargs)
                ex.status = resp.status_code
                ex.headers = {k.lower(): v for k, v in resp.headers.items()}
                try:
                    for chunk in resp.raw.stream():
                        body.extend(chunk)
                finally:
                    resp.close()
            ex.content = bytes(body)
            ex.text = _decode(body, resp.encoding)
        except requests.RequestException as exc:
            ex.partial_status, ex.status = ex.status, None
            ex.error = _error_text(exc)
            ex.text = _decode(body[: SNIPPET * 4], None)
            if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
                self.refused += ex.partial_status is None and not isinstance(exc, BoundExceeded)
            self._over_budget(exc)
            if earlier is not None:
                self._probe_failed(earlier, exc)
            elif mark_hang:
                self._note_hang(ex, exc, streamed=False)
        ex.elapsed = time.monotonic() - start
        return ex

    def _tmo(self, probe: bool = False) -> tuple[float, float]:
        read = min(self.timeout, PROBE_READ) if probe else self.timeout
        return (min(self.timeout, 10.0), read)

    def stream(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        auth: str | None = "default",
        on_event: Callable[[SseEvent], None] | None = None,
    ) -> StreamResult:
        """Send a request and read an SSE answer incrementally within the exchange's deadline.

        Bytes are read as they arrive (read1), parsed at once and time-stamped, so the checks can
        tell a streamed answer from a buffered one and a stall from a slow network. `on_event`
        sees each event as it completes (e.g. to stop the task mid-stream). A non-SSE answer is
        read within the same bounds.
        """
        auth_header = self.bearer() if auth == "default" else auth
        url = self.url(path)
        earlier = self._hung(method, url, streamed=True)
        ex = Exchange(method, url, json_body)
        start, guard = self._begin(probe=earlier is not None)
        result = StreamResult(exchange=ex, started=start)
        headers = self._headers(auth_header, {"Accept": "text/event-stream", "Accept-Encoding": "identity"})
        self.calls += 1
        parser = SseParser()
        raw = bytearray()
        hang: Exception | None = None
        with guarded(guard):
            try:
                resp = self.session.request(
                    method,
                    url,
                    json=json_body,
                    headers=headers,
                    timeout=self._tmo(probe=earlier is not None),
                    stream=True,
                )
            except requests.RequestException as exc:
                ex.error = _error_text(exc)
                result.end_reason = f"no answer ({ex.error})"
                result.ended = time.monotonic()
                self._over_budget(exc)
                if earlier is not None:
                    self._probe_failed(earlier, exc)
                self._note_hang(ex, exc, streamed=True)
                return result
            result.headers_at = time.monotonic()
            ex.status = resp.status_code
            ex.headers = {k.lower(): v for k, v in resp.headers.items()}
            sse = ex.content_type == "text/event-stream"
            try:
                while True:
                    chunk = resp.raw.read1()
                    if not chunk:
                        result.end_reason = "closed"
                        break
                    result.chunks += 1
                    raw.extend(chunk)
                    if sse:
                        for event in parser.feed(chunk):
                            if on_event is not None:
                                on_event(event)
            except requests.RequestException as exc:
                result.end_reason = self._stream_end(exc, sse)
                if not sse:
                    ex.partial_status, ex.status, ex.error = ex.status, None, result.end_reason
                self._over_budget(exc)
                hang = exc
            finally:
                resp.close()
        ex.text = _decode(raw, None if sse else resp.encoding)
        result.ended = time.monotonic()
        result.raw = bytes(raw)
        result.events = parser.events
        result.comments = parser.comments
        result.pending_at_end = parser.pending
        ex.elapsed = result.ended - result.started
        if earlier is not None:
            self._probe_failed(earlier, hang)
        elif hang is not None:
            self._note_hang(ex, hang, streamed=True, evidence=result.evidence, reason=result.end_reason)
        return result

    def _stream_end(self, exc: requests.RequestException, sse: bool) -> str:
        """How a stream that did not close normally ended, in the words the report uses."""
        what = "stream" if sse else "body"
        if isinstance(exc, DeadlineExceeded):
            return f"total timeout: still open after {self.stream_timeout:.1f} s"
        if isinstance(exc, BodyTooLarge):
            return f"too large: the {what} exceeded {self.limits.max_body / MB:g} MB (reading stopped there)"
        if isinstance(exc, requests.Timeout):
            return f"stalled: no bytes for {self.timeout:.1f} s"
        if isinstance(exc, BoundExceeded):
            return f"broken: {exc}"
        return f"broken: {type(exc).__name__}: {str(exc)[:150]}"


def _error_text(exc: Exception) -> str:
    """A bound's own message is the finding; other errors keep their type name."""
    return str(exc) if isinstance(exc, BoundExceeded) else f"{type(exc).__name__}: {str(exc)[:200]}"


def _decode(body: bytearray, encoding: str | None) -> str:
    """The body as text (invalid bytes replaced; an unknown charset falls back to UTF-8)."""
    try:
        return body.decode(encoding or "utf-8", "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
