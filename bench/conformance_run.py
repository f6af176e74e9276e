"""Wall time of the default chat-conformance run against a local chat-mock (prints figures).

Starts `python -m mock_server` (the chat-mock defaults: gunicorn + gevent, realistic pacing) on a
free port, then times `python -m conformance` three ways: the default run (Chat App surface,
fuzzing with the default --max-examples), all three surfaces, and the default run without fuzzing.
Target: the default run under 2 minutes on 2 cores.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-bench-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    mock = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", str(port), "--api-key", KEY],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    root = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        runs = {
            "default (chat app + fuzz)": [],
            "all three surfaces + fuzz": [
                "--conversational-url",
                root,
                "--chat-completions-url",
                root + "/v1",
            ],
            "default without fuzz": ["--skip", "fuzz"],
        }
        print(f"{'run':<28} {'wall s':>7} {'exit':>4}")
        for name, extra in runs.items():
            start = time.monotonic()
            proc = subprocess.run(
                [sys.executable, "-m", "conformance", "--base-url", root + "/v1", "--api-key", KEY, *extra],
                env=env,
                capture_output=True,
                text=True,
            )
            print(f"{name:<28} {time.monotonic() - start:>7.1f} {proc.returncode:>4}")
    finally:
        mock.terminate()
        mock.wait(10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
