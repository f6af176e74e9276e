"""What recording costs and how faithfully a recording replays: figures, not a pass/fail test.

    python bench/record_replay.py [--streams 20] [--concurrent 20] [--blocking 50]

Against real processes on loopback ports: an upstream `chat-mock` (gunicorn + gevent, 150 ms to
the first token, 20 ms between tokens, no jitter), `chat-mock record` in front of it, and a second
`chat-mock --app-dir` replaying what was recorded. Prints:
  * the recorder's overhead: time to first frame, to each frame and to the whole stream of
    "Can you explain why?" (59 pieces), straight from the upstream and through the recorder
    (--streams of each, one at a time), and of blocking answers (--blocking of each);
  * --concurrent streams through the recorder at once: each frame's lateness against the same
    streams straight from the upstream;
  * the replay's timing: each replayed frame's arrival against its recorded `at` (--streams replays,
    one at a time, and --concurrent at once), and the recording's size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-mock-dev-key"
QUERY = "Can you explain why?"
INPUTS = {"book": "Die Hard"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], port: int, log: Any) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{args[:2]} exited")
        with socket.socket() as probe:
            listening = probe.connect_ex(("127.0.0.1", port)) == 0
        if listening and args[0] == "record":
            return proc
        if listening:  # gunicorn listens before its worker has built the app: wait for the app
            try:
                if requests.get(f"http://127.0.0.1:{port}/_mock/health", timeout=2).status_code == 200:
                    return proc
            except requests.RequestException:
                pass
        time.sleep(0.05)
    raise SystemExit(f"{args[:2]} did not listen")


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def stream(base: str, key: str, user: str) -> list[float]:
    """Arrival times (s after sending) of the data frames of one streamed answer."""
    sent = time.monotonic()
    body = {"inputs": INPUTS, "query": QUERY, "user": user, "response_mode": "streaming"}
    times = []
    with requests.post(
        f"{base}/chat-messages",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        stream=True,
        timeout=60,
    ) as resp:
        buffer = b""
        for chunk in resp.iter_content(chunk_size=None):
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                if frame.startswith(b"data:"):
                    times.append(time.monotonic() - sent)
    return times


def blocking(base: str, key: str, user: str) -> float:
    sent = time.monotonic()
    body = {"inputs": INPUTS, "query": "Who directed Die Hard?", "user": user, "response_mode": "blocking"}
    requests.post(f"{base}/chat-messages", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    return time.monotonic() - sent


def at_once(count: int, work: Any) -> list[Any]:
    results: list[Any] = [None] * count

    def run(i: int) -> None:
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def ms(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    p50 = statistics.median(values)
    return f"p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms  max {values[-1] * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=20)
    parser.add_argument("--blocking", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        out = Path(tmp) / "bench-app"
        up_port, rec_port, rep_port = free_port(), free_port(), free_port()
        began = time.monotonic()
        upstream = start(
            ["--port", str(up_port), "--ttft-ms", "150", "--token-interval-ms", "20", "--jitter-ms", "0"],
            up_port,
            log,
        )
        upstream_ready = time.monotonic() - began
        direct_base = f"http://127.0.0.1:{up_port}/v1"
        rec = start(
            [
                "record",
                "--upstream",
                direct_base,
                "--api-key",
                KEY,
                "--out",
                str(out),
                "--port",
                str(rec_port),
            ],
            rec_port,
            log,
        )
        rec_base = f"http://127.0.0.1:{rec_port}/v1"
        try:
            direct = [stream(direct_base, KEY, f"d{i}") for i in range(args.streams)]
            through = [stream(rec_base, KEY, f"r{i}") for i in range(args.streams)]
            first = [t[0] - d[0] for d, t in zip(direct, through, strict=True)]
            every = [b - a for d, t in zip(direct, through, strict=True) for a, b in zip(d, t, strict=True)]
            total = [t[-1] - d[-1] for d, t in zip(direct, through, strict=True)]
            print(f"stream of {len(direct[0])} frames, one at a time ({args.streams} each way):")
            print(
                f"  straight: first frame {statistics.median(d[0] for d in direct) * 1000:.1f} ms, "
                f"last {statistics.median(d[-1] for d in direct) * 1000:.1f} ms (medians)"
            )
            print(f"  recorder overhead, first frame:  {ms(first)}")
            print(f"  recorder overhead, every frame:  {ms(every)}")
            print(f"  recorder overhead, whole stream: {ms(total)}")
            b_direct = sorted(blocking(direct_base, KEY, f"bd{i}") for i in range(args.blocking))
            b_through = sorted(blocking(rec_base, KEY, f"br{i}") for i in range(args.blocking))
            straight_ms, through_ms = statistics.median(b_direct) * 1000, statistics.median(b_through) * 1000
            print(
                f"blocking answers ({args.blocking} each way): p50 {straight_ms:.1f} ms straight, "
                f"{through_ms:.1f} ms through the recorder"
            )
            reference = direct[0]  # one stream alone, straight: when each frame is due
            for name, base in (("straight", direct_base), ("through the recorder", rec_base)):
                many = at_once(
                    args.concurrent, lambda i, base=base, tag=name[0]: stream(base, KEY, f"c{tag}{i}")
                )
                late = [t - d for times in many for t, d in zip(times, reference, strict=False)]
                print(f"{args.concurrent} streams at once {name}, lateness per frame: {ms(late)}")
        finally:
            stop(rec)
            stop(upstream)
        files = list(out.rglob("*.yaml"))
        size = sum(p.stat().st_size for p in files)
        print(f"recording: {len(files) - 1} exchanges, {size / 1024:.0f} KiB of YAML")
        first_stream = sorted((out / "exchanges").glob("*.yaml"))[0]
        recorded_at = [e["at"] for e in yaml.safe_load(first_stream.read_text())["response"]["events"]]
        began = time.monotonic()
        replay = start(["--port", str(rep_port), "--app-dir", str(out), "--replay-speed", "1"], rep_port, log)
        exchanges = sorted((out / "exchanges").glob("*.yaml"))
        events = sum(len(yaml.safe_load(p.read_text())["response"].get("events") or []) for p in exchanges)
        ready = time.monotonic() - began
        print(
            f"replaying mock ready in {ready:.1f} s (the upstream mock: {upstream_ready:.1f} s); "
            f"it checks the {len(exchanges)} exchanges and {events} events at each start"
        )
        rep_base = f"http://127.0.0.1:{rep_port}/v1"
        try:
            cold = stream(rep_base, "app-recorded-bench-app", "cold")
            print(
                f"replay, the first after start: first frame {cold[0] * 1000:.1f} ms "
                f"(recorded {recorded_at[0] * 1000:.1f} ms)"
            )
            replays = [stream(rep_base, "app-recorded-bench-app", f"p{i}") for i in range(args.streams)]
            drift = [t - a for times in replays for t, a in zip(times, recorded_at, strict=True)]
            print(
                f"replay, one at a time ({args.streams}): arrival - recorded at: {ms(drift)}; "
                f"median {statistics.median(drift) * 1000:.1f} ms"
            )
            many = at_once(args.concurrent, lambda i: stream(rep_base, "app-recorded-bench-app", f"q{i}"))
            drift = [t - a for times in many for t, a in zip(times, recorded_at, strict=True)]
            print(f"replay, {args.concurrent} at once: arrival - recorded at: {ms(drift)}")
        finally:
            stop(replay)
        print(json.dumps({"recorded_frames": len(recorded_at), "recorded_span_s": recorded_at[-1]}))


if __name__ == "__main__":
    main()
