"""The mock as a real process (`python -m mock_server`, gunicorn + gevent) for tests that need one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    url: str  # the root URL, e.g. http://127.0.0.1:PORT
    port: int
    output: str = ""  # what the process printed (stdout and stderr), once it has ended


@contextmanager
def served_mock(*args: str, cwd: Path | str | None = None, start_s: float = 60.0) -> Iterator[Served]:
    """Start the mock with `args`, yield once /_mock/health answers 200; stop it on exit.

    Its output goes to a file, not a pipe, so a chatty server never blocks on a full pipe; after the
    block, `output` holds it. A loaded machine may take many seconds to start gunicorn: `start_s`.
    """
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "--port", str(port), *args],
            cwd=str(cwd or ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        served = Served(f"http://127.0.0.1:{port}", port)
        try:
            _wait_until_healthy(proc, served.url, start_s, log)
            yield served
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.seek(0)
            served.output = log.read().decode("utf-8", "replace")


def _wait_until_healthy(proc: subprocess.Popen, url: str, start_s: float, log) -> None:
    deadline = time.monotonic() + start_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"mock exited: {log.read().decode('utf-8', 'replace')[-2000:]}")
        try:
            if requests.get(f"{url}/_mock/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:  # not up yet, or slow to answer on a loaded machine
            pass
        time.sleep(0.1)
    raise RuntimeError(f"mock did not answer /_mock/health within {start_s:.0f} s")
