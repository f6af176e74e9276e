"""HTTP access for the checks: every call has timeouts and leaves evidence for the report.

A server under test may hang, stall mid-stream or answer garbage; each call returns an `Exchange`
(or a `StreamResult`) that records what was sent and what came back, so a failing check can say
exactly which request, which answer, and why. Nothing here raises on a bad answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
import urllib3.exceptions

from conformance.sse import SseEvent, SseParser

SNIPPET = 300


def _short(value: Any, limit: int = SNIPPET) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


@dataclass
class Exchange:
    """One request and what came back (status None when no answer came: timeout, refused)."""

    method: str
    url: str
    request_body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""
    error: str | None = None
    elapsed: float = 0.0
    auth_note: str = ""

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
    """A small HTTP client bound to one base URL and key, with connect/read/total timeouts."""

    def __init__(self, base_url: str, api_key: str, timeout: float = 10.0, stream_timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.stream_timeout = stream_timeout
        self.session = requests.Session()
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
        start = time.monotonic()
        self.calls += 1
        try:
            resp = self.session.request(method, url, stream=True, **kwargs)
            ex.status = resp.status_code
            ex.headers = {k.lower(): v for k, v in resp.headers.items()}
            ex.text = self._read_all(resp, start + self.stream_timeout).decode(
                resp.encoding or "utf-8", "replace"
            )
        except requests.RequestException as exc:
            ex.error = f"{type(exc).__name__}: {str(exc)[:200]}"
            if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.Timeout):
                self.refused += 1
        except TimeoutError as exc:
            ex.status, ex.error = None, str(exc)
        ex.elapsed = time.monotonic() - start
        return ex

    def _read_all(self, resp: requests.Response, deadline: float) -> bytes:
        """The whole body, unless it keeps dribbling past the total deadline (a hang in disguise)."""
        body = bytearray()
        try:
            for chunk in resp.iter_content(65536):
                body.extend(chunk)
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"total timeout: the body was still arriving after {self.stream_timeout:.1f} s"
                    )
        finally:
            resp.close()
        return bytes(body)

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
        """Send a request and read an SSE answer incrementally within the total stream timeout.

        Bytes are read as they arrive (read1), parsed at once and time-stamped, so the checks can
        tell a streamed answer from a buffered one and a stall from a slow network. `on_event`
        sees each event as it completes (e.g. to stop the task mid-stream).
        """
        auth_header = self.bearer() if auth == "default" else auth
        url = self.url(path)
        ex = Exchange(method, url, json_body)
        result = StreamResult(exchange=ex, started=time.monotonic())
        headers = self._headers(auth_header, {"Accept": "text/event-stream", "Accept-Encoding": "identity"})
        self.calls += 1
        try:
            resp = self.session.request(
                method, url, json=json_body, headers=headers, timeout=self._tmo(), stream=True
            )
        except requests.RequestException as exc:
            ex.error = f"{type(exc).__name__}: {str(exc)[:200]}"
            result.end_reason = f"no answer ({ex.error})"
            result.ended = time.monotonic()
            return result
        result.headers_at = time.monotonic()
        ex.status = resp.status_code
        ex.headers = {k.lower(): v for k, v in resp.headers.items()}
        deadline = result.started + self.stream_timeout
        parser = SseParser()
        raw = bytearray()
        try:
            if ex.content_type != "text/event-stream":
                ex.text = resp.text
                raw.extend(ex.text.encode())
                result.end_reason = "closed"
            else:
                while True:
                    if time.monotonic() > deadline:
                        result.end_reason = f"total timeout: still open after {self.stream_timeout:.1f} s"
                        break
                    chunk = resp.raw.read1(65536)
                    if not chunk:
                        result.end_reason = "closed"
                        break
                    result.chunks += 1
                    raw.extend(chunk)
                    for event in parser.feed(chunk):
                        if on_event is not None:
                            on_event(event)
                ex.text = raw.decode("utf-8", "replace")
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            name = type(exc).__name__
            if "timeout" in name.lower() or "timed out" in str(exc):
                result.end_reason = f"stalled: no bytes for {self.timeout:.1f} s"
            else:
                result.end_reason = f"broken: {name}: {str(exc)[:150]}"
            ex.text = raw.decode("utf-8", "replace")
        finally:
            resp.close()
        result.ended = time.monotonic()
        result.raw = bytes(raw)
        result.events = parser.events
        result.comments = parser.comments
        result.pending_at_end = parser.pending
        ex.elapsed = result.ended - result.started
        return result
