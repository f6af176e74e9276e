"""Benchmark chat-mock as users run it (gunicorn + gevent) and print the figures.

    python bench/bench_mock.py [--duration 10] [--connections 32] [--streams 1000] [--workers 2]

Measures, against a fresh `chat-mock` subprocess:
  * requests/s and latency p50/p99 of GET /v1/conversations and blocking POST /v1/chat-messages
    (keep-alive HTTP/1.1 connections driven by gevent in --client-procs load processes; there is no wrk
    here, so the load generator is Python and shares the machine's cores with the server);
  * concurrent SSE streams: --streams streams of "Can you explain why?" (59 tokens) at a 20 ms token
    interval, all opened at once; how many complete, wall time, p50/p99/max drift of each token's
    arrival from its ideal time (first token + i * 20 ms), and the server's RSS (total and per stream).
Nothing here is a pass/fail test (principle 6): it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-mock-dev-key"
INTERVAL_MS = 20.0
STREAM_QUERY = "Can you explain why?"


# ---------------------------------------------------------------- load client (runs in subprocesses)


def _request(method: str, path: str, port: int, body: dict | None = None, close: bool = False) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Authorization: Bearer {KEY}"]
    if body is not None:
        head += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    if close:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + data


def _read_response(sock: socket.socket, buf: bytes) -> tuple[int, bytes]:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(buf) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return status, buf[length:]


def client_http(port: int, kind: str, connections: int, duration: float) -> dict:
    from gevent import monkey

    monkey.patch_all()
    import gevent

    latencies: list[float] = []
    errors = [0]
    deadline = time.perf_counter() + duration

    def worker(n: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        buf = b""
        i = 0
        while time.perf_counter() < deadline:
            if kind == "get":
                req = _request("GET", "/v1/conversations?user=abc-123&limit=20", port)
            else:
                req = _request(
                    "POST",
                    "/v1/chat-messages",
                    port,
                    {"inputs": {"book": "b"}, "query": "hello", "user": f"bench-{os.getpid()}-{n}"},
                )
            t0 = time.perf_counter()
            sock.sendall(req)
            try:
                status, buf = _read_response(sock, buf)
            except ConnectionError:
                errors[0] += 1
                sock = socket.create_connection(("127.0.0.1", port))
                buf = b""
                continue
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors[0] += 1
            i += 1
        sock.close()

    gevent.joinall([gevent.spawn(worker, n) for n in range(connections)])
    return {"count": len(latencies), "errors": errors[0], "latencies": latencies}


def client_sse(port: int, streams: int) -> dict:
    from gevent import monkey

    monkey.patch_all()
    import gevent

    req = _request(
        "POST",
        "/v1/chat-messages",
        port,
        {"inputs": {"book": "b"}, "query": STREAM_QUERY, "user": "bench-sse", "response_mode": "streaming"},
        close=True,
    )
    drifts: list[float] = []
    firsts: list[float] = []
    ends: list[float] = []
    tokens: list[int] = []
    errors = [0]
    start = time.perf_counter()

    def stream() -> None:
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            t0 = time.perf_counter()
            sock.sendall(req)
            arrivals: list[float] = []
            tail = b""
            done = False
            while not done:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                now = time.perf_counter()
                data = tail + chunk
                arrivals += [now] * data.count(b'"event":"message",')
                done = b'"message_end"' in data
                tail = data[-32:]
            sock.close()
            if not done or not arrivals:
                errors[0] += 1
                return
            firsts.append(arrivals[0] - t0)
            ends.append(time.perf_counter() - start)
            tokens.append(len(arrivals))
            drifts.extend(a - (arrivals[0] + i * INTERVAL_MS / 1000) for i, a in enumerate(arrivals))
        except OSError:
            errors[0] += 1

    gevent.joinall([gevent.spawn(stream) for _ in range(streams)])
    return {
        "completed": len(ends),
        "errors": errors[0],
        "drifts": drifts,
        "firsts": firsts,
        "ends": ends,
        "tokens": tokens,
    }


# ---------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_kb(pid: int) -> int:
    """RSS of a process and its children (gunicorn master + workers), from /proc."""
    total = 0
    pids = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    pids.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _tree_pids(pid: int) -> list[int]:
    """A process and all its descendants (the CLI, gunicorn's master and workers; npx and node)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += parents.get(p, [])
    return out


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in _tree_pids(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError, IndexError):
            pass
    return total / tick


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _run_clients(args: list[str], procs: int) -> list[dict]:
    cmd = [sys.executable, __file__, "--client", *args]
    children = [subprocess.Popen(cmd, stdout=subprocess.PIPE) for _ in range(procs)]
    return [json.loads(child.communicate()[0]) for child in children]


WRK_POST = f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {KEY}"
wrk.body = '{{"inputs": {{"book": "b"}}, "query": "hello", "user": "bench-wrk"}}'
"""


def _wrk(
    wrk: str, port: int, kind: str, connections: int, duration: float
) -> tuple[float, float, float, int]:
    """(req/s, p50 ms, p99 ms, non-2xx + socket errors) from one wrk run."""
    import re
    import tempfile

    cmd = [wrk, "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency"]
    if kind == "get":
        cmd += [
            "-H",
            f"Authorization: Bearer {KEY}",
            f"http://127.0.0.1:{port}/v1/conversations?user=abc-123",
        ]
    else:
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(WRK_POST)
        cmd += ["-s", str(script), f"http://127.0.0.1:{port}/v1/chat-messages"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        if kind != "get":
            script.unlink()
    return _parse_wrk(out, re)


def _parse_wrk(out: str, re: Any) -> tuple[float, float, float, int]:
    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return rps, ms("50"), ms("99"), errors


BARE_APP = """from flask import Flask
app = Flask(__name__)


@app.get("/x")
def x():
    return {"ok": True}
"""


def bare_flask_baseline(wrk: str, connections: int, duration: float) -> tuple[float, float, float, int]:
    """The anchors' reference point measured now on this machine: bare Flask 3 (no state, no
    validation) under gunicorn with 2 gevent workers, same wrk settings. Other load on the machine
    moves both figures; the ratio is what compares with the anchors' table."""
    import re
    import tempfile

    folder = Path(tempfile.mkdtemp())
    (folder / "bareapp.py").write_text(BARE_APP)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "2",
            "-k",
            "gevent",
            "--no-control-socket",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bareapp:app",
        ],
        cwd=folder,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        out = subprocess.run(
            [
                wrk,
                "-t2",
                f"-c{connections}",
                f"-d{int(duration)}s",
                "--latency",
                f"http://127.0.0.1:{port}/x",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        server.terminate()
        server.wait(timeout=15)
    return _parse_wrk(out, re)


def _wait_port(port: int) -> None:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    time.sleep(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--python-load", action="store_true", help="use the Python load generator even if wrk exists"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the bare Flask reference run")
    parser.add_argument("--client", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client is not None:
        kind, port, *rest = args.client
        if kind == "sse":
            result = client_sse(int(port), int(rest[0]))
        else:
            result = client_http(int(port), kind, int(rest[0]), float(rest[1]))
        print(json.dumps(result))
        return 0

    port = _free_port()
    exe = shutil.which("chat-mock")
    cmd = [exe] if exe else [sys.executable, "-m", "mock_server"]
    cmd += [
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--ttft-ms",
        "0",
        "--token-interval-ms",
        str(INTERVAL_MS),
        "--jitter-ms",
        "0",
        "--worker-connections",
        "4000",
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(1.0)
        print(f"chat-mock: {' '.join(cmd[-16:])}")
        print(
            f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the run"
            " (other processes compete for the same cores)"
        )
        wrk = shutil.which("wrk") if not args.python_load else None
        if wrk:
            print(f"HTTP load: wrk, 2 threads, {args.connections} connections, {args.duration:.0f} s each")
        else:
            print(
                f"HTTP load: {args.client_procs} Python/gevent client processes, {args.connections}"
                f" keep-alive connections, {args.duration:.0f} s each (wrk gives comparable figures)"
            )
        for kind, label in (("get", "GET /v1/conversations"), ("post", "POST /v1/chat-messages (blocking)")):
            if wrk:
                rps, p50, p99, errors = _wrk(wrk, port, kind, args.connections, args.duration)
            else:
                per_proc = max(1, args.connections // args.client_procs)
                results = _run_clients(
                    [kind, str(port), str(per_proc), str(args.duration)], args.client_procs
                )
                lat = [x for r in results for x in r["latencies"]]
                rps = sum(r["count"] for r in results) / args.duration
                p50, p99 = _pct(lat, 50) * 1000, _pct(lat, 99) * 1000
                errors = sum(r["errors"] for r in results)
            print(f"{label:36s} {rps:8.0f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  errors {errors}")
        if wrk and not args.no_baseline:
            rps, p50, p99, errors = bare_flask_baseline(wrk, args.connections, args.duration)
            label = "baseline: bare Flask, 2 gevent wkrs"
            print(
                f"{label:36s} {rps:8.0f} req/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  errors {errors}"
                "  (anchors: 5,021 req/s; Prism 1,803 GET / 1,549 POST)"
            )

        idle_rss = _tree_rss_kb(server.pid)
        peak = [idle_rss]
        sampling = True

        def sample() -> None:
            while sampling:
                peak[0] = max(peak[0], _tree_rss_kb(server.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        per_proc = max(1, args.streams // args.client_procs)
        results = _run_clients(["sse", str(port), str(per_proc)], args.client_procs)
        wall = time.perf_counter() - t0
        sampling = False
        sampler.join()
        drifts = [x for r in results for x in r["drifts"]]
        firsts = [x for r in results for x in r["firsts"]]
        completed = sum(r["completed"] for r in results)
        errors = sum(r["errors"] for r in results)
        tokens = [x for r in results for x in r["tokens"]]
        ideal = (statistics.mean(tokens) - 1) * INTERVAL_MS / 1000 if tokens else float("nan")
        print(
            f"SSE: {completed}/{per_proc * args.client_procs} streams completed ({errors} errors), "
            f"{statistics.mean(tokens) if tokens else 0:.0f} tokens each at {INTERVAL_MS:.0f} ms; "
            f"all done in {wall:.2f} s (ideal per stream {ideal:.2f} s)"
        )
        print(
            f"SSE token drift vs ideal: p50 {_pct(drifts, 50) * 1000:+.1f} ms"
            f"  p99 {_pct(drifts, 99) * 1000:+.1f} ms  max {_pct(drifts, 100) * 1000:+.1f} ms;"
            f" first token p50 {_pct(firsts, 50) * 1000:.0f} ms p99 {_pct(firsts, 99) * 1000:.0f} ms"
        )
        per_stream = (peak[0] - idle_rss) / max(1, completed)
        print(
            f"server RSS: idle {idle_rss / 1024:.1f} MB, peak {peak[0] / 1024:.1f} MB, "
            f"~{per_stream:.0f} KB per stream"
        )
    finally:
        server.terminate()
        server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
