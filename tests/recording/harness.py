"""Serving a recorder for the tests, and reading answers with their arrival times.

The recorder runs as users run it (`python -m mock_server record ...`, a real process on a loopback
port), in front of a real mock process (tests/served.py). Streams are read here with a small
incremental reader of our own (not the recorder's), so each frame's arrival time is the client's.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.served import ROOT, free_port

INPUTS = {"book": "Die Hard"}


@dataclass
class Recorder:
    url: str  # the API base through the recorder, e.g. http://127.0.0.1:PORT/v1
    out: Path
    proc: subprocess.Popen
    output: str = ""


@contextmanager
def recorder(upstream: str, key: str, out: Path, *args: str, start_s: float = 30.0) -> Iterator[Recorder]:
    """`chat-mock record --upstream UPSTREAM/v1 --api-key KEY --out OUT` on a free loopback port."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [
        sys.executable,
        "-m",
        "mock_server",
        "record",
        "--upstream",
        f"{upstream}/v1",
        "--api-key",
        key,
        "--out",
        str(out),
        "--port",
        str(port),
        *args,
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
        rec = Recorder(f"http://127.0.0.1:{port}/v1", out, proc)
        try:
            _wait_for_port(proc, port, start_s, log)
            yield rec
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
            log.seek(0)
            rec.output = log.read().decode("utf-8", "replace")


def _wait_for_port(proc: subprocess.Popen, port: int, start_s: float, log: Any) -> None:
    deadline = time.monotonic() + start_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"recorder exited: {log.read().decode('utf-8', 'replace')[-2000:]}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"recorder did not listen within {start_s:.0f} s")


@dataclass
class Answer:
    """What a client received: the status, headers, and either a JSON body or the stream's data
    frames with their arrival times (seconds after the request was sent)."""

    status: int
    headers: dict[str, str]
    body: Any = None
    frames: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    broken: bool = False  # the connection broke off before the body ended
    elapsed: float = 0.0

    @property
    def events(self) -> list[dict[str, Any]]:
        return [payload for _, payload in self.frames]

    @property
    def types(self) -> list[str]:
        return [e.get("event", "") for e in self.events]


def chat(
    base: str,
    key: str,
    query: str,
    *,
    streaming: bool = True,
    user: str = "rec-user",
    conversation_id: str = "",
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
    max_frames: int = 5000,
    **body: Any,
) -> Answer:
    """POST /chat-messages and read the whole answer (bounded in frames and time)."""
    payload = {
        "inputs": dict(INPUTS),
        "query": query,
        "response_mode": "streaming" if streaming else "blocking",
        "user": user,
        "conversation_id": conversation_id,
        **body,
    }
    sent = time.monotonic()
    resp = requests.post(
        f"{base}/chat-messages",
        json=payload,
        headers={"Authorization": f"Bearer {key}", **(headers or {})},
        stream=True,
        timeout=timeout,
        allow_redirects=False,  # a client that follows would hide whether the recorder did
    )
    answer = Answer(resp.status_code, dict(resp.headers))
    if not resp.headers.get("Content-Type", "").startswith("text/event-stream"):
        answer.body = resp.json() if resp.content else None
        answer.elapsed = time.monotonic() - sent
        return answer
    buffer = b""
    try:
        for chunk in resp.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                data = [line[5:].strip() for line in frame.split(b"\n") if line.startswith(b"data:")]
                if data:
                    answer.frames.append((time.monotonic() - sent, json.loads(b"\n".join(data))))
            if len(answer.frames) > max_frames or time.monotonic() - sent > timeout:
                raise AssertionError(f"stream longer than {max_frames} frames or {timeout} s")
    except requests.exceptions.ChunkedEncodingError:
        answer.broken = True
    finally:
        resp.close()
    answer.elapsed = time.monotonic() - sent
    return answer


def normalized(node: Any, ids: dict[str, str] | None = None) -> Any:
    """An answer with its drawn values made comparable: each UUID becomes `<id N>` in order of first
    appearance, times (`created_at`, `finished_at`) and signed file URLs become placeholders."""
    ids = {} if ids is None else ids
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in {"created_at", "finished_at", "updated_at"} and isinstance(value, int):
                out[key] = "<time>"
            elif key == "url" and isinstance(value, str) and "/file-preview" in value:
                out[key] = "<signed url>"
            else:
                out[key] = normalized(value, ids)
        return out
    if isinstance(node, list):
        return [normalized(v, ids) for v in node]
    if isinstance(node, str) and len(node) == 36 and node.count("-") == 4:
        return ids.setdefault(node, f"<id {len(ids)}>")
    return node
