"""The recording proxy: a transparent WSGI reverse proxy to one upstream app that writes down its
chat exchanges.

Every request is sent to the upstream as it came (method, path, query, body, headers but the
hop-by-hop ones) and its answer comes back as it left the upstream: status, headers and body
bytes, a stream relayed chunk by chunk the moment each arrives (never buffered). Redirects are
never followed (the client gets the 3xx; a Location on the upstream points back at the proxy).
An upstream that drops a stream drops the client's too.

`POST <base>/chat-messages` is also recorded: its request body, and its answer, a blocking body
or every SSE data frame with its arrival time (seconds after the request left). The exchange is
written once it is over (recorded whole or not at all: layout.write_atomic), after the files its
`message_file` events name were fetched from the upstream. What is kept is bounded (body bytes,
stream events and bytes, file bytes); what was cut is said in the exchange's `notes`.

The client's key: a request that presents the recorded app's replay key (app.yaml `key`) or the
real key is sent with the real key, so a UI can be set up with the replay key from day one; any
other Authorization is sent unchanged (the upstream judges it). No request header is recorded.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import requests

from mock_server.recording import layout
from mock_server.recording.redact import Redactor, scrub_url
from mock_server.recording.sse import FrameReader, FrameTooLarge

CHAT_PATH = "/chat-messages"
CHUNK = 65536
# Connection-level headers never cross a proxy (RFC 9110 7.6.1), nor the ones the proxy sets itself.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
}
OWN_HEADERS = {"server", "date"}  # the proxy's HTTP server sends its own
KEPT_RESPONSE_HEADERS = ("content-type", "retry-after")  # what a replay needs; nothing else is recorded


@dataclass
class RecordSettings:
    upstream: str  # the app's API base URL, e.g. https://api.dify.ai/v1
    api_key: str
    out: Path
    replay_key: str = ""  # the key the replaying mock serves the app under (app.yaml `key`)
    anonymize_users: bool = False
    max_body_bytes: int = 2 * 2**20  # a request or blocking answer body kept whole up to this
    max_events: int = 20_000  # stream events kept per exchange
    max_stream_bytes: int = 64 * 2**20  # stream bytes kept per exchange
    max_file_bytes: int = 20 * 2**20  # an answer's file fetched up to this
    max_request_bytes: int = 128 * 2**20  # bigger request bodies are refused (413), not relayed
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0  # silence of the upstream (a stream's pings keep it alive)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.upstream)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def base_path(self) -> str:
        return urlsplit(self.upstream).path.rstrip("/")


def upstream_session() -> requests.Session:
    """A session that ignores the environment: no proxy variables, no .netrc credentials."""
    session = requests.Session()
    session.trust_env = False
    return session


class RecordingProxy:
    """The WSGI app of `chat-mock record`."""

    def __init__(self, settings: RecordSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or upstream_session()
        self.redactor = Redactor([settings.api_key], settings.anonymize_users)
        self._lock = threading.Lock()
        self._sequence = layout.next_sequence(settings.out)
        self._turns: dict[str, int] = {}  # upstream conversation id -> messages seen in it
        self.recorded = 0  # exchanges written (for the summary at exit)
        self._in_flight = 0  # exchanges started and not yet written

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = _raw_path(environ)
        target = self.settings.origin + path
        try:
            body = _read_body(environ, self.settings.max_request_bytes)
        except _TooLarge:
            return _error(start_response, 413, "request_entity_too_large", "chat-mock record: body too large")
        headers = self._forwarded_headers(environ)
        exchange = self._start_exchange(method, environ.get("PATH_INFO", ""), body)
        if exchange is not None:
            headers["Accept-Encoding"] = "identity"  # the recorder reads what it relays
        try:
            resp = self.session.request(
                method,
                target,
                headers=headers,
                data=body if body else None,
                stream=True,
                allow_redirects=False,  # never followed, least of all off the upstream
                timeout=(self.settings.connect_timeout_s, self.settings.read_timeout_s),
            )
        except requests.RequestException as exc:
            if exchange is not None:  # nothing came back: nothing to record
                self._finish(exchange, "complete", None)
            reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            return _error(start_response, 502, "bad_gateway", f"chat-mock record: upstream failed: {reason}")
        start_response(
            f"{resp.status_code} {resp.reason or ''}".strip(), self._response_headers(resp, environ)
        )
        if exchange is not None:
            exchange.answer(resp)
        return self._relay(resp, exchange, environ.get("werkzeug.socket"))

    def _relay(self, resp: requests.Response, exchange: _Exchange | None, client: Any) -> Iterator[bytes]:
        end, note = "complete", None
        try:
            while True:
                try:
                    chunk = resp.raw.read1(CHUNK, decode_content=False)
                except Exception as exc:  # the upstream dropped the connection, or went silent too long
                    end, note = "disconnected", f"the upstream's answer broke off: {type(exc).__name__}"
                    if client is None:
                        raise  # the server closes a connection whose body raised
                    with contextlib.suppress(OSError):  # so does the client's, as the upstream's did
                        client.shutdown(socket.SHUT_RDWR)
                    return
                if not chunk:
                    break
                if exchange is not None:
                    exchange.received(chunk)
                yield chunk
        except GeneratorExit:
            if end == "complete":
                end, note = "client_closed", "the client closed the connection before the answer ended"
            raise
        finally:
            resp.close()
            if exchange is not None:
                self._finish(exchange, end, note)

    # ------------------------------------------------------------------ headers

    def _forwarded_headers(self, environ: dict[str, Any]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = key[5:].replace("_", "-").title()
            elif key in ("CONTENT_TYPE",):
                name = "Content-Type"
            else:
                continue
            if name.lower() in HOP_BY_HOP or name.lower() in ("host", "content-length") or not value:
                continue
            out[name] = value
        out["Accept-Encoding"] = environ.get("HTTP_ACCEPT_ENCODING", "identity")
        scheme, _, token = out.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token in {self.settings.api_key, self.settings.replay_key}:
            out["Authorization"] = f"Bearer {self.settings.api_key}"
        elif token:
            self.redactor.add_secret(token)  # whatever a client authenticates with stays out too
        return out

    def _response_headers(self, resp: requests.Response, environ: dict[str, Any]) -> list[tuple[str, str]]:
        own = f"http://{environ.get('HTTP_HOST') or environ.get('SERVER_NAME', '127.0.0.1')}"
        out = []
        for name, value in resp.raw.headers.items():
            if name.lower() in HOP_BY_HOP or name.lower() in OWN_HEADERS:
                continue
            if name.lower() == "location" and value.startswith(self.settings.origin):
                value = own + value[len(self.settings.origin) :]  # the upstream's own URL: via the proxy
            out.append((name, value))
        return out

    # ------------------------------------------------------------------ recording

    def _start_exchange(self, method: str, path: str, body: bytes) -> _Exchange | None:
        """An exchange to record: a chat message whose body is a JSON object with a query."""
        if method != "POST" or path.rstrip("/") != self.settings.base_path + CHAT_PATH:
            return None
        try:
            doc = json.loads(body) if len(body) <= self.settings.max_body_bytes else None
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("query"), str):
            return None
        conversation = str(doc.get("conversation_id") or "")
        with self._lock:
            sequence, self._sequence = self._sequence, self._sequence + 1
            self._in_flight += 1
            if not conversation:
                turn: int | None = 1
            else:
                seen = self._turns.get(conversation)
                turn = seen + 1 if seen is not None else None
        return _Exchange(self.settings, sequence, doc, turn)

    def _finish(self, exchange: _Exchange, end: str, note: str | None) -> None:
        try:
            if not (exchange.status == 200 or exchange.status >= 400):  # a redirect: relayed, not an answer
                print(f"chat-mock record: exchange {exchange.sequence}: {exchange.status}, not recorded")
                return
            doc = exchange.document(end, note, self._fetch_file)
            conversation = doc.get("conversation")
            with self._lock:
                if conversation and exchange.turn is not None and 200 <= exchange.status < 300:
                    self._turns[conversation] = exchange.turn
            users = {str(exchange.request.get("user") or "")} - {""}
            clean = self.redactor.scrub(doc, users)
            name = layout.exchange_name(exchange.sequence, exchange.request["query"])
            comment = (
                f"chat-mock record: one chat exchange with {scrub_url(self.settings.upstream)},\n"
                "as it happened (credentials removed). Edit freely: `chat-mock --app-dir DIR`\n"
                "checks it against the contract."
            )
            layout.write_atomic(self.settings.out / layout.EXCHANGES / name, layout.dump_yaml(clean, comment))
            with self._lock:
                self.recorded += 1
        except Exception as exc:  # never break the client's answer for the recording's sake
            print(f"chat-mock record: exchange {exchange.sequence} not recorded: {exc!r}", flush=True)
        finally:
            with self._lock:
                self._in_flight -= 1

    def drain(self, timeout_s: float) -> int:
        """Wait (at most `timeout_s`) for the exchanges in flight to be written; how many were not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight <= 0:
                    return 0
            time.sleep(0.05)
        with self._lock:
            return self._in_flight

    def _fetch_file(self, url: str, file_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """Fetch a file an answer produced, from the upstream's origin only; (record, note)."""
        if not url.startswith(self.settings.origin + "/"):
            return None, f"file {file_id}: not fetched, its URL is not on the upstream's origin"
        limit = self.settings.max_file_bytes
        try:
            with self.session.get(
                url,
                stream=True,
                allow_redirects=False,
                timeout=(self.settings.connect_timeout_s, 60),
            ) as resp:
                if resp.status_code != 200:
                    return None, f"file {file_id}: the upstream answered {resp.status_code}"
                data = b""
                for chunk in resp.iter_content(CHUNK):
                    data += chunk
                    if len(data) > limit:
                        return None, f"file {file_id}: over {limit} bytes, not kept"
                mime = resp.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
                shown = file_name(resp.headers.get("Content-Disposition", ""), url)
        except requests.RequestException as exc:
            return None, f"file {file_id}: not fetched: {type(exc).__name__}"
        extension = mimetypes.guess_extension(mime) or ""
        name = f"{layout.slug(file_id, 60)}{extension}"
        layout.write_atomic(self.settings.out / layout.FILES / name, data)
        record = {
            "path": f"{layout.FILES}/{name}",
            "name": shown or name,
            "mime_type": mime,
            "size": len(data),
        }
        return record, None


def file_name(disposition: str, url: str) -> str | None:
    """A file's name as its answer names it: Content-Disposition's `filename*`/`filename`, else the
    URL's last segment when it has an extension (Dify's tool files: /files/tools/<id>.png)."""
    found = re.search(r"filename\*\s*=\s*(?:UTF-8'')?([^;]+)", disposition, re.IGNORECASE) or re.search(
        r'filename\s*=\s*"?([^";]+)"?', disposition, re.IGNORECASE
    )
    if found:
        name = unquote(found.group(1).strip())
    else:
        name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
        if "." not in name:
            return None
    name = name.replace("/", "_").replace("\\", "_").strip()
    return name[:200] or None


@dataclass
class _Exchange:
    """One chat exchange being recorded."""

    settings: RecordSettings
    sequence: int
    request: dict[str, Any]
    turn: int | None
    started: float = field(default_factory=time.monotonic)
    status: int = 0
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    streaming: bool = False
    reader: FrameReader = field(default_factory=FrameReader)
    events: list[dict[str, Any]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    kept_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    cut: bool = False
    ended_at: float | None = None

    def answer(self, resp: requests.Response) -> None:
        self.status = resp.status_code
        self.content_type = resp.headers.get("Content-Type", "")
        self.streaming = self.content_type.split(";")[0].strip() == "text/event-stream"
        self.headers = {name: resp.headers[name] for name in KEPT_RESPONSE_HEADERS if name in resp.headers}
        self.headers = {k.title(): v for k, v in self.headers.items()}

    def received(self, chunk: bytes) -> None:
        at = time.monotonic() - self.started
        self.ended_at = at
        if self.cut:
            return
        if not self.streaming:
            if len(self.body) + len(chunk) > self.settings.max_body_bytes:
                self.cut = True
                self.notes.append(f"the body passed {self.settings.max_body_bytes} bytes: not kept")
                self.body.clear()
            else:
                self.body += chunk
            return
        self.kept_bytes += len(chunk)
        try:
            frames = self.reader.feed(chunk)
        except FrameTooLarge as exc:
            self._cut(f"{exc}; the rest was relayed, not recorded")
            return
        for frame in frames:
            if frame.data is None:  # a ping or a comment: the replaying mock sends its own
                continue
            if len(self.events) >= self.settings.max_events:
                self._cut(
                    f"the stream passed {self.settings.max_events} events; the rest was relayed, not recorded"
                )
                return
            try:
                payload: Any = json.loads(frame.data)
            except ValueError:
                payload = None
            entry: dict[str, Any] = {"at": round(at, 3)}
            if isinstance(payload, dict):
                entry["data"] = payload
            else:
                entry["raw"] = frame.data  # not an event: kept to be read, refused at load
            self.events.append(entry)
        if self.kept_bytes > self.settings.max_stream_bytes:
            self._cut(
                f"the stream passed {self.settings.max_stream_bytes} bytes; "
                "the rest was relayed, not recorded"
            )

    def _cut(self, note: str) -> None:
        self.cut = True
        self.notes.append(note)

    def document(
        self,
        end: str,
        note: str | None,
        fetch: Callable[[str, str], tuple[dict[str, Any] | None, str | None]],
    ) -> dict[str, Any]:
        """The exchange as it is written (before redaction)."""
        elapsed = round(self.ended_at if self.ended_at is not None else time.monotonic() - self.started, 3)
        if note:
            self.notes.append(note)
        if self.cut and end == "complete":
            end = "cut"
        response: dict[str, Any] = {"status": self.status, "headers": self.headers, "elapsed": elapsed}
        files: dict[str, Any] = {}
        conversation = None
        if self.streaming:
            if self.reader.pending.strip() and not self.cut:
                self.notes.append("the stream ended inside a frame; that frame is not recorded")
            response["end"] = end
            response["events"] = self.events
            for entry in self.events:
                data = entry.get("data") or {}
                conversation = conversation or data.get("conversation_id")
                if (
                    data.get("event") == "message_file"
                    and isinstance(data.get("url"), str)
                    and data.get("id")
                ):
                    record, problem = fetch(data["url"], str(data["id"]))
                    if record is not None:
                        files[str(data["id"])] = record
                    if problem:
                        self.notes.append(problem)
        else:
            text = bytes(self.body).decode("utf-8", "replace")
            try:
                body: Any = json.loads(text) if text else None
            except ValueError:
                body = text
            response["body"] = body
            if end != "complete":
                response["end"] = end
            if isinstance(body, dict):
                conversation = body.get("conversation_id")
        doc: dict[str, Any] = {
            "request": {"method": "POST", "path": CHAT_PATH, "body": self.request},
            "conversation": conversation or self.request.get("conversation_id") or None,
            "turn": self.turn,
            "response": response,
        }
        if files:
            doc["files"] = files
        if self.notes:
            doc["notes"] = self.notes
        return doc


class _TooLarge(Exception):
    pass


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The request body (bounded: a bigger one is _TooLarge)."""
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        size = int(length)
        if size > limit:
            raise _TooLarge
        parts, left = [], size
        while left > 0:
            chunk = stream.read(min(left, CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        data = b""
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                return data
            data += chunk
            if len(data) > limit:
                raise _TooLarge
    return b""


def _raw_path(environ: dict[str, Any]) -> str:
    """The request's path and query as the client sent them."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw and raw.startswith("/"):
        return raw
    path = quote(environ.get("PATH_INFO", "").encode("latin-1"), safe="/:@!$&'()*+,;=-._~%")
    query = environ.get("QUERY_STRING", "")
    return path + (f"?{query}" if query else "")


def _error(start_response: Callable[..., Any], status: int, code: str, message: str) -> list[bytes]:
    body = json.dumps({"code": code, "message": message, "status": status}).encode()
    reason = {413: "Request Entity Too Large", 502: "Bad Gateway"}.get(status, "Error")
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
