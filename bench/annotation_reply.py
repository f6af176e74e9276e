"""Benchmark: what long chat queries cost the other requests of a worker when annotation replies are on.

    python bench/annotation_reply.py [--annotations 1000] [--question-chars 60] [--query-chars 10000]
                                     [--senders 4] [--interval 0.25] [--duration 20] [--repo PATH]

Starts `chat-mock` (gunicorn + gevent, one worker, no pacing) from --repo (default: this checkout; give
an export of an older commit to measure it), creates --annotations annotations whose questions are
about --question-chars long, turns annotation replies on (threshold 0.9), then for --duration seconds
runs --senders threads that each send a blocking chat message with a --query-chars-long query every
--interval seconds (4 every 0.25 s: 16 long queries a second), while one prober sends
GET /v1/parameters every 20 ms on its own connection (first 5 s alone: the quiet baseline). Prints the
probes' latency (p50/p99/max: what every other request of the worker waits) and the long queries'
own times.
Nothing here is a pass/fail test (principle 7): it prints numbers. Traffic goes to 127.0.0.1 only; every
loop is bounded by --duration and a request count.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-mock-dev-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORDS = [
    "who", "what", "when", "where", "why", "which", "film", "movie", "die", "hard", "bruce", "willis",
    "nakatomi", "plaza", "christmas", "john", "mcclane", "hans", "gruber", "tower", "action", "best",
    "scene", "line", "yippee", "ki", "yay", "sequel", "director", "actor", "the", "a", "of", "in", "is",
]  # fmt: skip
MAX_REQUESTS = 100_000  # no loop sends more, whatever the duration


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def text(chars: int, rng: random.Random) -> str:
    out, length = [], 0
    while length < chars:
        out.append(rng.choice(WORDS))
        length += len(out[-1]) + 1
    return " ".join(out)[:chars]


def start(repo: Path, port: int, store: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(repo)}
    args = [sys.executable, "-m", "mock_server", "--port", str(port), "--store", store, "--workers", "1"]
    args += ["--ttft-ms", "0", "--token-interval-ms", "0", "--jitter-ms", "0", "--log-level", "error"]
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("chat-mock did not start")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--annotations", type=int, default=1000)
    ap.add_argument("--question-chars", type=int, default=60)
    ap.add_argument("--query-chars", type=int, default=10_000)
    ap.add_argument("--senders", type=int, default=4)
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between two queries of a sender")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--repo", type=Path, default=ROOT)
    args = ap.parse_args()
    rng = random.Random(20)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = start(args.repo.resolve(), port, str(Path(tmp) / "bench.sqlite3"))
        try:
            setup = requests.Session()
            for i in range(args.annotations):
                body = {"question": text(args.question_chars, rng), "answer": f"Annotated answer {i}."}
                assert setup.post(f"{base}/v1/apps/annotations", json=body, headers=AUTH, timeout=30).ok
            reply = {"score_threshold": 0.9, "embedding_provider_name": "p", "embedding_model_name": "m"}
            enable = f"{base}/v1/apps/annotation-reply/enable"
            assert setup.post(enable, json=reply, headers=AUTH, timeout=30).ok
            queries = [text(args.query_chars, rng) for _ in range(8)]
            quiet: list[float] = []
            for _ in range(250):  # 5 s of probes alone
                t = time.perf_counter()
                assert setup.get(f"{base}/v1/parameters", headers=AUTH, timeout=30).ok
                quiet.append((time.perf_counter() - t) * 1000)
                time.sleep(0.02)
            stop = time.monotonic() + args.duration
            probes: list[float] = []
            long_times: list[float] = []
            lock = threading.Lock()

            def sender(n: int) -> None:
                session = requests.Session()
                for i in range(MAX_REQUESTS):
                    if time.monotonic() >= stop:
                        return
                    query = queries[(n + i) % len(queries)]
                    body = {"inputs": {"book": "x"}, "query": query, "user": f"s{n}"}
                    t = time.perf_counter()
                    resp = session.post(f"{base}/v1/chat-messages", json=body, headers=AUTH, timeout=120)
                    took = time.perf_counter() - t
                    assert resp.status_code == 200, resp.text[:200]
                    with lock:
                        long_times.append(took * 1000)
                    time.sleep(max(0.0, args.interval - took))  # long queries arrive at a steady rate

            def prober() -> None:
                session = requests.Session()
                time.sleep(0.5)  # the senders are under way
                for _ in range(MAX_REQUESTS):
                    if time.monotonic() >= stop:
                        return
                    t = time.perf_counter()
                    assert session.get(f"{base}/v1/parameters", headers=AUTH, timeout=120).ok
                    probes.append((time.perf_counter() - t) * 1000)
                    time.sleep(0.02)

            threads = [threading.Thread(target=sender, args=(n,)) for n in range(args.senders)]
            threads.append(threading.Thread(target=prober))
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=args.duration + 180)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(
        f"annotations={args.annotations} question_chars~{args.question_chars} query_chars={args.query_chars} "
        f"senders={args.senders} interval={args.interval:g}s duration={args.duration:g}s repo={args.repo}"
    )
    print(
        f"quiet baseline (GET /v1/parameters alone, n={len(quiet)}): p50 {pct(quiet, 50):.1f} ms  "
        f"p99 {pct(quiet, 99):.1f} ms"
    )
    print(
        f"other requests (GET /v1/parameters, n={len(probes)}): p50 {pct(probes, 50):.1f} ms  "
        f"p99 {pct(probes, 99):.1f} ms  max {max(probes, default=float('nan')):.1f} ms"
    )
    mean = statistics.mean(long_times) if long_times else float("nan")
    print(
        f"long chat queries (n={len(long_times)}): mean {mean:.1f} ms  p99 {pct(long_times, 99):.1f} ms  "
        f"max {max(long_times, default=float('nan')):.1f} ms"
    )


if __name__ == "__main__":
    main()
