"""HTTP access for the checks: every call has timeouts and leaves evidence for the report.

A server under test may hang, drip, stall mid-stream, cut a body or answer gigabytes; each call
returns an `Exchange` (or a `StreamResult`) that records what was sent and what came back, so a
failing check can say exactly which request, which answer, and why. Nothing here raises on a bad
answer. Every exchange is bounded in wall time and bytes read (conformance.bounds); the only
exception raised is `BudgetSpent`, when the run's --max-time is over (the check is then not run).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from conformance.bounds import (
    DEFAULT_MAX_BODY_MB,
    MB,
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
from conformance.sse import SseEvent, SseParser

SNIPPET = 300


def _short(value: Any, limit: int = SNIPPET) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


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
        body = "" if self.request_body is None else " " + _short(self.request_body, 200)
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
        shown = self.raw[:600].decode("utf-8", "replace")
        more = f"... ({len(self.raw)} bytes)" if len(self.raw) > 600 else ""
        return (
            f"request: {self.exchange.request_line()}\n  answer: {self.exchange.status} "
            f"{self.exchange.headers.get('content-type', '')}; {len(self.events)} events, "
            f"ended: {self.end_reason}\n  body: {shown!r}{more}"
        )


def describe_auth(auth: str | None, header: str | None) -> str:
    """How a non-default request authenticated, for the evidence; keys are never shown whole."""
    if auth == "default":
        return ""
    if header is None:
        return "no Authorization header"
    scheme, _, rest = header.partition(" ")
    shown = f"{scheme} {rest[:4]}..." if rest else f"{header[:4]}..."
    return f"Authorization: {shown}"


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

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.base_url + path + (("?" + urlencode(query)) if query else "")

    def _headers(self, auth: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {} if auth is None else {"Authorization": auth}
        headers.update(extra or {})
        return headers

    def bearer(self) -> str:
        return f"Bearer {self.api_key}"

    def _begin(self) -> tuple[float, Guard]:
        """(start, armed guard) of a new exchange; `BudgetSpent` when the run has no time left."""
        if self.budget is not None and self.budget.spent():
            raise BudgetSpent(self.budget.why())
        start = time.monotonic()
        return start, self.limits.guard(start)

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
    ) -> Exchange:
        """Send one request; `auth="default"` uses the configured key, None sends no header."""
        auth_header = self.bearer() if auth == "default" else auth
        url = self.url(path, params)
        shown = evidence_body if evidence_body is not None else json_body if json_body is not None else data
        ex = Exchange(method, url, shown, auth_note=describe_auth(auth, auth_header))
        kwargs: dict[str, Any] = {"headers": self._headers(auth_header, headers), "timeout": self._tmo()}
        if json_body is not None:
            kwargs["json"] = json_body
        if data is not None:
            kwargs["data"] = data
        if files is not None:
            kwargs["files"] = files
        if raw_body is not None:
            kwargs["data"] = raw_body
        start, guard = self._begin()
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
        ex.elapsed = time.monotonic() - start
        return ex

    def _tmo(self) -> tuple[float, float]:
        return (min(self.timeout, 10.0), self.timeout)

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
        ex = Exchange(method, url, json_body)
        start, guard = self._begin()
        result = StreamResult(exchange=ex, started=start)
        headers = self._headers(auth_header, {"Accept": "text/event-stream", "Accept-Encoding": "identity"})
        self.calls += 1
        parser = SseParser()
        raw = bytearray()
        with guarded(guard):
            try:
                resp = self.session.request(
                    method, url, json=json_body, headers=headers, timeout=self._tmo(), stream=True
                )
            except requests.RequestException as exc:
                ex.error = _error_text(exc)
                result.end_reason = f"no answer ({ex.error})"
                result.ended = time.monotonic()
                self._over_budget(exc)
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
            finally:
                resp.close()
        ex.text = _decode(raw, None if sse else resp.encoding)
        result.ended = time.monotonic()
        result.raw = bytes(raw)
        result.events = parser.events
        result.comments = parser.comments
        result.pending_at_end = parser.pending
        ex.elapsed = result.ended - result.started
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
