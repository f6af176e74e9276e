"""Serving servers for the judge and running the judge against them.

A variant is the real mock (mock_server.create_app) wrapped in a WSGI middleware that rewrites its
traffic, served by werkzeug's threaded server on a free port. The suite always runs as a separate
process (`python -m conformance ... --results-json`), exactly as a user would run it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from tests.served import free_port, served_mock  # noqa: F401 - free_port: imported from here by tests

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # an access line per request would drown the output

ROOT = Path(__file__).resolve().parents[2]
KEY = "app-gallery-key"
OTHER_KEY = "app-gallery-other-key"  # a second app of the same mock, for the cross-app checks
OTHER_APP_ARGS = ("--other-app-key", OTHER_KEY)
# Fast but streamed: 10 ms between pieces so buffering is measurable (a 60-piece answer takes 0.6 s).
MOCK_CONFIG: dict[str, Any] = {"api_keys": [KEY], "ttft_ms": 20.0, "token_interval_ms": 10.0}

WsgiApp = Callable[..., Any]


@contextmanager
def serve(app: WsgiApp) -> Iterator[str]:
    """Serve a WSGI app on a free port in a thread; yields its root URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def mock_app(**overrides: Any) -> WsgiApp:
    from mock_server import create_app

    return create_app({**MOCK_CONFIG, **overrides})


def run_suite(root_url: str, areas: str, *extra: str, key: str = KEY, timeout: float = 120) -> dict[str, Any]:
    """Run chat-conformance against a server root; returns the --results-json document (+ exit code)."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        args = [
            sys.executable,
            "-m",
            "conformance",
            "--base-url",
            root_url + "/v1",
            "--api-key",
            key,
            "--only",
            areas,
            "--results-json",
            str(results),
            "--request-timeout",
            "2",
            "--stream-timeout",
            "8",
            "--max-examples",
            "0",
            *extra,
        ]
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp)
        doc = json.loads(results.read_text()) if results.exists() else {"results": []}
    doc["exit_code"] = proc.returncode
    doc["output"] = proc.stdout[-4000:] + proc.stderr[-2000:]
    return doc


def outcomes(doc: dict[str, Any], check_id: str) -> list[str]:
    return [r["outcome"] for r in doc["results"] if r["check"] == check_id]


def failed_checks(doc: dict[str, Any]) -> list[str]:
    return sorted({r["check"] for r in doc["results"] if r["outcome"] == "failed"})


@contextmanager
def mock_process(*args: str) -> Iterator[str]:
    """The mock as a real process (`python -m mock_server`), yields its root URL once it answers."""
    with served_mock("--api-key", KEY, *args) as served:
        yield served.url
