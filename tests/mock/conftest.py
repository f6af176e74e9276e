"""Fixtures for the mock's tests: apps on a private SQLite file, a contract-checked client, a live server."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.serving import make_server

from mock_server import create_app
from tests.contract import parse_sse
from tests.mock.contract_check import CheckedClient

KEY = "app-mock-dev-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SEEDED_USER = "abc-123"
SEEDED_CONVERSATION = "45701982-8118-4bc5-8e9b-64562b4555f2"
LONG_CONVERSATION = "1c7e55fb-1ba2-4e10-81b5-30addcea2276"
INPUTS = {"book": "Die Hard"}


ROOT = Path(__file__).resolve().parents[2]


def fixtures_with(tmp_path: Path, change: Callable[[dict[str, Any]], None], app: str | None = None) -> Path:
    """A copy of fixtures/ whose reference app (fixtures/app.yaml), or app file `app`
    (fixtures/apps/<app>.yaml), `change` edits in place: an app configured as a test needs it."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", fixtures)
    path = fixtures / "app.yaml" if app is None else fixtures / "apps" / f"{app}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return fixtures


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Any]:
    """Build an app on this test's store file (several apps on one file act like several workers)."""

    def factory(**overrides: Any) -> Any:
        config: dict[str, Any] = {"store": str(tmp_path / "store.sqlite3"), "ping_interval_s": 10.0}
        config.update(overrides)
        return create_app(config)

    return factory


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> CheckedClient:
    return CheckedClient(app)


@pytest.fixture
def live_server(make_app: Callable[..., Any]) -> Iterator[Callable[..., str]]:
    """Start real threaded HTTP servers (werkzeug) for clients that need sockets; returns base URLs."""
    servers = []

    def start(**overrides: Any) -> str:
        server = make_server("127.0.0.1", 0, make_app(**overrides), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def chat(
    client: CheckedClient,
    query: str = "hello",
    user: str = "u1",
    headers: dict[str, str] | None = None,
    **body: Any,
) -> Any:
    payload = {"inputs": dict(INPUTS), "query": query, "user": user, **body}
    return client.post("/v1/chat-messages", json=payload, headers={**AUTH, **(headers or {})})


def events(resp: Any) -> list[dict[str, Any]]:
    """The JSON payloads of a chat stream's data frames (pings skipped)."""
    return [json.loads(e["data"]) for e in parse_sse(resp.get_data(as_text=True)) if "data" in e]


def raw_chat_stream(base: str, body: dict[str, Any], fault: str) -> bytes:
    """POST a chat message over a raw socket with `X-Mock-Fault` and return every byte received.

    A raw socket shows what an HTTP client library hides: a connection dropped mid-body.
    """
    payload = json.dumps(body).encode()
    request = (
        f"POST /v1/chat-messages HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"X-Mock-Fault: {fault}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    ).encode() + payload
    return raw_exchange(base, request)


def raw_exchange(base: str, request: bytes, timeout: float = 10, one_response: bool = False) -> bytes:
    """Send `request` bytes as they are over a new connection to `base`; every byte received
    until the server closes it (TimeoutError after `timeout` s of silence), or with `one_response`
    until one whole response with a Content-Length has arrived."""
    import socket

    port = int(base.rsplit(":", 1)[1])
    raw = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                raw += chunk
                if one_response and _complete(raw):
                    break
        except ConnectionResetError:
            pass
    return raw


def _complete(raw: bytes) -> bool:
    head, sep, body = raw.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return bool(sep) and len(body) >= int(value)
    return False


def split_response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of one HTTP/1.1 response read off a socket
    (a chunked body is de-chunked)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        out = b""
        while body:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            out, body = out + body[:size], body[size + 2 :]
        body = out
    return status, headers, body
