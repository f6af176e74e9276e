"""chat-mock side by side with Prism 5 and bare Flask, in one interleaved run (prints figures).

    python bench/side_by_side.py [--rounds 2] [--duration 6] [--skip streams,idle,history,conformance]

Everything runs on 127.0.0.1, each load bounded in time and count:
  * servers: Stoplight Prism 5 (npm `@stoplight/prism-cli`, installed into a temp dir) mocking Dify's
    own `openapi_chat.json` from ../shared/reference/dify-official/ (skipped, with the reason, when
    that file or npm is missing); a bare Flask app that returns the mock's own answer bytes as a fixed
    body under gunicorn + gevent (1 and 2 workers); `chat-mock` with 1 worker (the default) and with
    `--workers 2`, pacing off (--ttft-ms 0 --token-interval-ms 0 --jitter-ms 0);
  * HTTP: `wrk -t2 -c32` for --duration s per figure on GET /conversations and blocking
    POST /chat-messages, every server once per round, rounds interleaved; the median of the rounds;
  * streams: 1,000 concurrent streams at a 20 ms token interval, chat-mock vs a bare gevent Flask SSE
    app sending as many frames on the same schedule (p99 drift of token arrival); 10,000 mostly idle
    streams (pings) held by one chat-mock worker: RSS, and the p99 of other requests meanwhile;
  * history: p50 of a page of 20 messages in a conversation of 100 vs 100,000 messages, and of a page
    of 20 conversations for a user with 100 vs 100,000;
  * the default `chat-conformance` run against a local chat-mock (wall time).
Then a table of the issue's targets, each figure a ratio measured in this same run. Nothing here is a
pass/fail test (shared machines are noisy): it prints numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bench_mock  # noqa: E402  (same folder: the load clients and /proc helpers)

ROOT = Path(__file__).resolve().parent.parent
KEY = bench_mock.KEY
DIFY_SPEC_IN = Path("shared") / "reference" / "dify-official" / "openapi_chat.json"  # ../shared of the repo
PRISM_PACKAGE = "@stoplight/prism-cli@5"
USER = "abc-123"  # a fixture user of the mock (its conversations are what GET answers)
POST_BODY = {"inputs": {"book": "b"}, "query": "hello", "user": "bench-wrk", "response_mode": "blocking"}
PRISM_POST_BODY = {"inputs": {}, "query": "hello", "user": "bench-wrk", "response_mode": "blocking"}
STREAM_FRAMES = 59  # what the mock sends for bench_mock.STREAM_QUERY
INTERVAL_MS = bench_mock.INTERVAL_MS
DEADLINE_S = 120.0  # no single measurement may run longer than this

BARE_APP = '''"""Bare Flask: fixed bodies, no state, no validation; an SSE route paced like the mock."""
import json
import time
from pathlib import Path

from flask import Flask, Response, request

HERE = Path(__file__).parent
GET_BODY = (HERE / "get.json").read_bytes()
POST_BODY = (HERE / "post.json").read_bytes()
FRAMES, INTERVAL_S = {frames}, {interval_s}
app = Flask(__name__)


@app.get("/v1/conversations")
def conversations():
    return Response(GET_BODY, mimetype="application/json")


@app.post("/v1/chat-messages")
def chat():
    if (request.get_json(silent=True) or {{}}).get("response_mode") != "streaming":
        return Response(POST_BODY, mimetype="application/json")

    def frames():
        start = time.monotonic()
        for i in range(FRAMES):
            left = start + i * INTERVAL_S - time.monotonic()
            if left > 0:
                time.sleep(left)
            frame = {{"event": "message", "answer": " tok%d" % i}}
            yield ("data: " + json.dumps(frame, separators=(",", ":")) + "\\n\\n").encode()
        yield b'data: {{"event":"message_end"}}\\n\\n'

    return Response(frames(), mimetype="text/event-stream")
'''

WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
wrk.body = '{body}'
"""


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    cmd: list[str]
    port: int
    prefix: str = "/v1"  # base path of the chat routes
    post_body: dict = field(default_factory=lambda: dict(POST_BODY))
    cwd: str | None = None
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            self.cmd, cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def ready(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                return False
            try:
                status, _ = http_get(self.port, self.get_path())
                if status < 500:
                    return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def get_path(self) -> str:
        return f"{self.prefix}/conversations?user={USER}"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def http_get(port: int, path: str, headers: dict | None = None, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {KEY}", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def http_post(port: int, path: str, body: dict, timeout: float = 10.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def chat_mock_cmd(port: int, *extra: str) -> list[str]:
    exe = shutil.which("chat-mock")
    cmd = [exe] if exe else [sys.executable, "-m", "mock_server"]
    return [*cmd, "--port", str(port), "--api-key", KEY, "--log-level", "warning", *extra]


NO_PACING = ("--ttft-ms", "0", "--token-interval-ms", "0", "--jitter-ms", "0")


def mock_server(name: str, workers: int, *extra: str) -> Server:
    port = bench_mock._free_port()
    return Server(name, chat_mock_cmd(port, "--workers", str(workers), *NO_PACING, *extra), port)


def bare_server(folder: Path, workers: int) -> Server:
    port = bench_mock._free_port()
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-k",
        "gevent",
        "-w",
        str(workers),
        "--worker-connections",
        "4000",
        "--backlog",
        "4096",
        "--no-control-socket",
        "--log-level",
        "warning",
        "-b",
        f"127.0.0.1:{port}",
        "bareapp:app",
    ]
    return Server(
        f"bare Flask, {workers} gevent worker{'s' if workers > 1 else ''}", cmd, port, cwd=str(folder)
    )


def write_bare_app(folder: Path, get_body: bytes, post_body: bytes) -> None:
    (folder / "get.json").write_bytes(get_body)
    (folder / "post.json").write_bytes(post_body)
    (folder / "bareapp.py").write_text(BARE_APP.format(frames=STREAM_FRAMES, interval_s=INTERVAL_MS / 1000))


def dify_spec(given: str | None) -> Path:
    """--dify-spec, else ../shared/reference/dify-official/openapi_chat.json beside the repo (or beside
    the folder of its git worktree)."""
    if given:
        return Path(given)
    for parent in (ROOT.parent, ROOT.parent.parent):
        if (parent / DIFY_SPEC_IN).is_file():
            return parent / DIFY_SPEC_IN
    return ROOT.parent / DIFY_SPEC_IN


def prism_server(folder: Path, spec: Path) -> tuple[Server | None, str]:
    """Prism installed with npm into `folder`, or (None, why not)."""
    if not spec.is_file():
        return None, f"Prism skipped: {spec} not found (Dify's own spec is what Prism mocks)"
    npm = shutil.which("npm")
    if not npm:
        return None, "Prism skipped: npm not found"
    proc = subprocess.run(
        [npm, "install", "--silent", "--no-audit", "--no-fund", PRISM_PACKAGE],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    prism = folder / "node_modules" / ".bin" / "prism"
    if proc.returncode != 0 or not prism.exists():
        return None, f"Prism skipped: npm install {PRISM_PACKAGE} failed: {proc.stderr.strip()[-300:]}"
    version = subprocess.run([str(prism), "--version"], capture_output=True, text=True).stdout.strip()
    port = bench_mock._free_port()
    # -v warn: no log line per request (the fastest Prism can be, and what a load test would use)
    cmd = [str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "warn", str(spec)]
    server = Server(f"Prism {version} (Dify's openapi_chat.json)", cmd, port, prefix="")
    server.post_body = dict(PRISM_POST_BODY)
    return server, ""


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        for s in servers:
            s.start()
        up = []
        for s in servers:
            if s.ready():
                up.append(s)
            else:
                print(f"  {s.name}: did not start; left out")
        time.sleep(1.0)
        yield up
    finally:
        for s in servers:
            s.stop()


# ---------------------------------------------------------------- wrk


@dataclass
class Figure:
    rps: float
    p50: float
    p99: float
    errors: int
    cpu_us: float = float("nan")  # the server's CPU (all its processes) per request, microseconds


def wrk(
    url: str,
    duration: float,
    connections: int = 32,
    threads: int = 2,
    post: dict | None = None,
    server_pid: int | None = None,
) -> Figure:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(duration)}s", "--timeout", "10s", "--latency"]
    script = None
    if post is None:
        cmd += ["-H", f"Authorization: Bearer {KEY}"]
    else:
        fd, script = tempfile.mkstemp(suffix=".lua")
        os.close(fd)
        Path(script).write_text(WRK_LUA.format(key=KEY, body=json.dumps(post)))
        cmd += ["-s", script]
    cpu_before = bench_mock.tree_cpu_s(server_pid) if server_pid else 0.0
    try:
        out = subprocess.run(
            [*cmd, url], capture_output=True, text=True, check=True, timeout=duration + 30
        ).stdout
    finally:
        if script:
            os.unlink(script)
    rps, p50, p99, errors = bench_mock._parse_wrk(out, re)
    cpu_us = float("nan")
    served = re.search(r"(\d+) requests in", out)
    if server_pid and served and int(served.group(1)) > 0:
        cpu_us = (bench_mock.tree_cpu_s(server_pid) - cpu_before) / int(served.group(1)) * 1e6
    return Figure(rps, p50, p99, errors, cpu_us)


def median(figures: list[Figure]) -> Figure:
    return Figure(
        statistics.median(f.rps for f in figures),
        statistics.median(f.p50 for f in figures),
        statistics.median(f.p99 for f in figures),
        sum(f.errors for f in figures),
        statistics.median(f.cpu_us for f in figures),
    )


def http_rounds(servers: list[Server], rounds: int, duration: float) -> dict[tuple[str, str], Figure]:
    """Every (server, route) once per round, interleaved; the median of the rounds."""
    runs: dict[tuple[str, str], list[Figure]] = {}
    for r in range(rounds):
        for route in ("GET", "POST"):
            for s in servers:
                pid = s.proc.pid if s.proc is not None else None
                if route == "GET":
                    f = wrk(s.url(s.get_path()), duration, server_pid=pid)
                else:
                    f = wrk(s.url(f"{s.prefix}/chat-messages"), duration, post=s.post_body, server_pid=pid)
                runs.setdefault((s.name, route), []).append(f)
                print(
                    f"  round {r + 1} {route:4s} {s.name:44s} {f.rps:7.0f} req/s  p50 {f.p50:6.1f} ms"
                    f"  p99 {f.p99:7.1f} ms  CPU {f.cpu_us:5.0f} us/req  errors {f.errors}",
                    flush=True,
                )
    return {k: median(v) for k, v in runs.items()}


# ---------------------------------------------------------------- streams


def sse_drift(server: Server, streams: int, procs: int = 2) -> dict:
    """`streams` streams opened at once; drift of each token from first token + i * interval."""
    per_proc = max(1, streams // procs)
    t0 = time.perf_counter()
    results = bench_mock._run_clients(["sse", str(server.port), str(per_proc)], procs)
    wall = time.perf_counter() - t0
    drifts = [x for r in results for x in r["drifts"]]
    return {
        "completed": sum(r["completed"] for r in results),
        "asked": per_proc * procs,
        "errors": sum(r["errors"] for r in results),
        "wall": wall,
        "p50": bench_mock._pct(drifts, 50) * 1000,
        "p99": bench_mock._pct(drifts, 99) * 1000,
        "first_p99": bench_mock._pct([x for r in results for x in r["firsts"]], 99) * 1000,
    }


def client_idle(port: int, streams: int, hold_s: float, ttft_ms: float) -> dict:
    """Hold `streams` streams whose first token is `ttft_ms` away (they get pings meanwhile)."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    body = {"inputs": {"book": "b"}, "query": "hello", "user": "bench-idle", "response_mode": "streaming"}
    data = json.dumps(body).encode()
    req = (
        f"POST /v1/chat-messages HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nX-Mock-TTFT-Ms: {ttft_ms}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + data
    counts = {"established": 0, "errors": 0, "pings": 0}
    deadline = time.monotonic() + hold_s

    def hold() -> None:
        sock = None
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=hold_s + 5)
            sock.sendall(req)
            seen = False
            while time.monotonic() < deadline:
                sock.settimeout(max(0.1, deadline - time.monotonic()))
                try:
                    chunk = sock.recv(4096)
                except TimeoutError:
                    break
                if not chunk:
                    break
                if not seen and b" 200 " in chunk:
                    seen = True
                    counts["established"] += 1
                counts["pings"] += chunk.count(b"event: ping")
            if not seen:
                counts["errors"] += 1
        except OSError:
            counts["errors"] += 1
        finally:
            if sock is not None:
                sock.close()

    jobs = []
    for i in range(streams):
        jobs.append(gevent.spawn(hold))
        if i % 200 == 199:
            gevent.sleep(0.05)  # a steady ramp rather than one SYN flood
    gevent.joinall(jobs, timeout=hold_s + 30)
    return counts


def idle_streams(streams: int, hold_s: float, procs: int = 4) -> dict:
    """One chat-mock worker holding `streams` idle streams; RSS and the p99 of other requests."""
    ping_s = 5.0
    server = mock_server(
        "chat-mock, 1 worker", 1, "--worker-connections", str(streams + 500), "--ping-interval", str(ping_s)
    )
    with running([server]) as up:
        if not up:
            return {}
        idle_rss = bench_mock._tree_rss_kb(server.proc.pid)
        per_proc = streams // procs
        cmd = [sys.executable, __file__, "--client-idle", str(server.port), str(per_proc), str(hold_s)]
        clients = [subprocess.Popen(cmd, stdout=subprocess.PIPE) for _ in range(procs)]
        ramp_s = min(hold_s / 2, max(4.0, streams / 1500))
        time.sleep(ramp_s + ping_s)
        peak = bench_mock._tree_rss_kb(server.proc.pid)
        latencies = []
        probe_end = time.monotonic() + max(2.0, hold_s - ramp_s - ping_s - 3.0)
        while time.monotonic() < probe_end and len(latencies) < 2000:
            t = time.perf_counter()
            try:
                status, _ = http_get(server.port, f"/v1/conversations?user={USER}", timeout=10)
            except OSError:
                status = 0
            latencies.append((time.perf_counter() - t) * 1000 if status == 200 else 10_000.0)
            peak = max(peak, bench_mock._tree_rss_kb(server.proc.pid)) if len(latencies) % 20 == 0 else peak
            time.sleep(0.02)
        results = [json.loads(c.communicate(timeout=hold_s + 60)[0]) for c in clients]
    established = sum(r["established"] for r in results)
    return {
        "asked": per_proc * procs,
        "established": established,
        "errors": sum(r["errors"] for r in results),
        "pings": sum(r["pings"] for r in results),
        "idle_mb": idle_rss / 1024,
        "peak_mb": peak / 1024,
        "probe_n": len(latencies),
        "probe_p50": bench_mock._pct(latencies, 50),
        "probe_p99": bench_mock._pct(latencies, 99),
    }


# ---------------------------------------------------------------- history pages


def history_store(path: str, sizes: tuple[int, ...]) -> dict[str, tuple[str, str]]:
    """A chat-mock store with, per size n, a conversation of n messages and a user with n
    conversations; returns {label: (user, conversation id)}."""
    sys.path.insert(0, str(ROOT))
    import sqlite3

    from mock_server import store

    store.init_schema(path)
    conn = sqlite3.connect(path, isolation_level=None)
    out = {}
    now = int(time.time()) - 10**6
    conn.execute("BEGIN")
    for n in sizes:
        user, conv_id = f"bench-history-{n}", str(uuid.uuid4())
        # through the store's own insert, so each row carries what the mock writes (its ready JSON)
        rows = [(user, conv_id, "long", now)]
        rows += [(f"bench-convs-{n}", str(uuid.uuid4()), f"c{i}", now + i) for i in range(n)]
        for owner, cid, name, at in rows:
            store.insert_conversation(conn, KEY, owner, {"id": cid, "name": name, "created_at": at})
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, api_key, user, inputs, query, answer, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((str(uuid.uuid4()), conv_id, KEY, user, "{}", f"q{i}", f"a{i}", now + i) for i in range(n)),
        )
        out[f"messages-{n}"] = (user, conv_id)
        out[f"conversations-{n}"] = (f"bench-convs-{n}", "")
    conn.execute("COMMIT")
    conn.close()
    return out


def history_pages(sizes: tuple[int, ...], rounds: int, duration: float) -> dict[str, Figure]:
    folder = Path(tempfile.mkdtemp(prefix="chat-mock-bench-"))
    path = str(folder / "history.sqlite3")
    try:
        t = time.perf_counter()
        targets = history_store(path, sizes)
        print(
            f"  store with {', '.join(map(str, sizes))} messages / conversations built in "
            f"{time.perf_counter() - t:.1f} s"
        )
        server = mock_server("chat-mock, 1 worker", 1, "--store", path)
        runs: dict[str, list[Figure]] = {}
        with running([server]) as up:
            if not up:
                return {}
            for _ in range(rounds):
                for label, (user, conv_id) in targets.items():
                    if label.startswith("messages"):
                        path_q = f"/v1/messages?user={user}&conversation_id={conv_id}&limit=20"
                    else:
                        path_q = f"/v1/conversations?user={user}&limit=20"
                    status, body = http_get(server.port, path_q)
                    assert status == 200 and len(json.loads(body)["data"]) == 20, (status, body[:200])
                    runs.setdefault(label, []).append(
                        wrk(server.url(path_q), duration, connections=4, threads=1)
                    )
        return {k: median(v) for k, v in runs.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- conformance run


def conformance_run() -> tuple[float, int]:
    """Wall time and exit code of the default chat-conformance run against a default chat-mock."""
    port = bench_mock._free_port()
    server = Server("chat-mock (default pacing)", chat_mock_cmd(port), port)
    with running([server]) as up:
        if not up:
            return float("nan"), -1
        start = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "conformance",
                "--base-url",
                f"http://127.0.0.1:{port}/v1",
                "--api-key",
                KEY,
            ],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=600,
        )
        return time.monotonic() - start, proc.returncode


# ---------------------------------------------------------------- report


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# The throughput ratios of the earlier performance issue: with one worker even a bare Flask app on the
# same gunicorn + gevent stack reaches only ~1.6x Prism's req/s, so issue 24 restated those targets
# per core (CPU per request, SPEC_NOTES L6). They are printed as figures, with no verdict.
FOR_REFERENCE = "(ratio only)"


def verdict(ok: bool | None | str) -> str:
    if isinstance(ok, str):
        return ok
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def print_http(figs: dict[tuple[str, str], Figure], names: list[str]) -> None:
    print(
        f"\n{'server':44s} {'GET req/s':>10s} {'POST req/s':>11s} {'p99 GET / POST ms':>20s}"
        f" {'CPU us/req GET / POST':>22s}  errors"
    )
    for n in names:
        g, p = figs.get((n, "GET")), figs.get((n, "POST"))
        if g and p:
            print(
                f"{n:44s} {g.rps:10.0f} {p.rps:11.0f} {g.p99:9.1f} / {p.p99:7.1f}"
                f" {g.cpu_us:12.0f} / {p.cpu_us:6.0f}  {g.errors + p.errors}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of wrk per figure")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--idle-streams", type=int, default=10_000)
    parser.add_argument("--idle-hold", type=float, default=20.0, help="seconds the idle streams are held")
    parser.add_argument("--history-sizes", default="100,100000")
    parser.add_argument("--dify-spec", help="Dify's openapi_chat.json for Prism (default: ../shared/...)")
    parser.add_argument(
        "--skip", default="", help="comma list of: http,prism,streams,idle,history,conformance"
    )
    parser.add_argument("--client-idle", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_idle:
        port, streams, hold = args.client_idle
        ttft_ms = (float(hold) + 30) * 1000  # the first token never comes while they are held
        print(json.dumps(client_idle(int(port), int(streams), float(hold), ttft_ms)))
        return 0
    # a SIGTERM unwinds like an exception, so every server started here is stopped on the way out
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if not shutil.which("wrk"):
        print("wrk not found: install it (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    print(f"wrk -t2 -c32, {args.duration:.0f} s per figure, {args.rounds} interleaved rounds, medians")
    targets: list[tuple[str, str, bool | None | str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="chat-mock-side-by-side-"))
    try:
        if "http" not in skip:
            targets += run_http(args, skip, tmp)
        if "streams" not in skip:
            targets += run_streams(args, tmp)
        if "idle" not in skip:
            print(f"\n== {args.idle_streams} mostly idle streams (pings every 5 s) in one chat-mock worker")
            r = idle_streams(args.idle_streams, args.idle_hold)
            if r:
                print(
                    f"  {r['established']}/{r['asked']} held ({r['errors']} errors, {r['pings']} pings);"
                    f" RSS idle {r['idle_mb']:.0f} MB, holding {r['peak_mb']:.0f} MB;"
                    f" other requests meanwhile: {r['probe_n']} GETs, p50 {r['probe_p50']:.1f} ms,"
                    f" p99 {r['probe_p99']:.1f} ms"
                )
                full = r["established"] >= r["asked"] * 0.99
                rss_ok, p99_ok = r["peak_mb"] < 1024, r["probe_p99"] <= 50
                targets.append(
                    (f"{r['asked']} idle streams: RSS < 1 GB", f"{r['peak_mb']:.0f} MB", full and rss_ok)
                )
                targets.append(
                    ("  ... other requests p99 <= 50 ms", f"{r['probe_p99']:.1f} ms", full and p99_ok)
                )
        if "history" not in skip:
            sizes = tuple(int(x) for x in args.history_sizes.split(","))
            print(f"\n== history pages of 20 (wrk -t1 -c4, {args.duration:.0f} s, {args.rounds} rounds)")
            h = history_pages(sizes, args.rounds, args.duration)
            for label, f in h.items():
                print(f"  {label:22s} {f.rps:7.0f} req/s  p50 {f.p50:6.2f} ms  p99 {f.p99:6.2f} ms")
            small, big = min(sizes), max(sizes)
            for kind in ("messages", "conversations"):
                a, b = h.get(f"{kind}-{small}"), h.get(f"{kind}-{big}")
                if a and b:
                    r_ = ratio(b.p50, a.p50)
                    targets.append((f"{kind} page p50 at {big:,} / at {small:,}", f"{r_:.2f}x", r_ <= 1.25))
        if "conformance" not in skip:
            print("\n== default chat-conformance run against a local chat-mock")
            wall, code = conformance_run()
            print(f"  {wall:.1f} s, exit {code}")
            targets.append(("default conformance run < 20 s", f"{wall:.1f} s (exit {code})", wall < 20))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n== targets (load average {os.getloadavg()[0]:.2f} at the end)")
    for name, figure, ok in targets:
        print(f"  {name:50s} {figure:>36s}  {verdict(ok)}")
    return 0


def run_http(args: argparse.Namespace, skip: set[str], tmp: Path) -> list[tuple[str, str, bool | None | str]]:
    mock1 = mock_server("chat-mock, 1 worker (default)", 1)
    mock2 = mock_server("chat-mock, --workers 2", 2)
    # the bare app answers with the mock's own bytes, so both send the same bodies
    with running([mock1]) as up:
        if not up:
            print("chat-mock did not start")
            return []
        _, get_body = http_get(mock1.port, mock1.get_path())
        _, post_body = http_post(mock1.port, "/v1/chat-messages", POST_BODY)
    folder = tmp / "bare"
    folder.mkdir()
    write_bare_app(folder, get_body, post_body)
    mock1 = mock_server("chat-mock, 1 worker (default)", 1)
    servers = [mock1, mock2, bare_server(folder, 1), bare_server(folder, 2)]
    prism = None
    if "prism" not in skip:
        (tmp / "prism").mkdir()
        prism, why = prism_server(tmp / "prism", dify_spec(args.dify_spec))
        if prism is None:
            print(why)
        else:
            servers.append(prism)
    print("\n== HTTP: " + ", ".join(s.name for s in servers))
    with running(servers) as up:
        figs = http_rounds(up, args.rounds, args.duration)
        names = [s.name for s in up]
    print_http(figs, names)
    targets: list[tuple[str, str, bool | None | str]] = []
    bare = {1: servers[2].name, 2: servers[3].name}
    for mock, workers in ((mock1, 1), (mock2, 2)):
        for route in ("GET", "POST"):
            m = figs.get((mock.name, route))
            if m is None:
                continue
            label = f"{'1 worker' if workers == 1 else '2 workers'} {route}"
            if prism is not None and (prism.name, route) in figs:
                p = figs[(prism.name, route)]
                r_ = ratio(m.rps, p.rps)
                figure = f"{r_:.2f}x"
                same_stack = figs.get((bare[workers], route))
                if same_stack:  # the ceiling: what a fixed answer on the same stack reaches
                    figure += f" (bare Flask: {ratio(same_stack.rps, p.rps):.2f}x)"
                targets.append((f"{label}: req/s vs Prism (was >= 2x)", figure, FOR_REFERENCE))
                targets.append((f"{label}: p99 <= Prism's", f"{m.p99:.0f} / {p.p99:.0f} ms", m.p99 <= p.p99))
                if workers == 1 and math.isfinite(m.cpu_us) and math.isfinite(p.cpu_us):  # issue 24
                    cpu = f"{m.cpu_us:.0f} / {p.cpu_us:.0f} us"
                    targets.append((f"{label}: CPU per request <= Prism's", cpu, m.cpu_us <= p.cpu_us))
            for bw in (workers, 2) if workers == 1 else (2,):
                b = figs.get((bare[bw], route))
                if b:
                    r_ = ratio(m.rps, b.rps)
                    figure = f"{r_:.2f}x"
                    if bw == workers and math.isfinite(m.cpu_us) and math.isfinite(b.cpu_us):
                        # the same ratio from CPU per request: what it is when the server alone is
                        # the limit, less moved by the load generator sharing the cores
                        figure = f"{figure} (CPU per request: {ratio(b.cpu_us, m.cpu_us):.2f}x)"
                    targets.append(
                        (
                            f"{label}: req/s vs bare Flask x{bw} (was >= 0.7x)",
                            figure,
                            FOR_REFERENCE,
                        )
                    )
    g2, p2 = figs.get((mock2.name, "GET")), figs.get((mock2.name, "POST"))
    if g2 and p2:
        r_ = ratio(p2.p99, g2.p99)
        targets.append(("2 workers: POST p99 within 2x GET p99", f"{p2.p99:.0f} / {g2.p99:.0f} ms", r_ <= 2))
    return targets


def run_streams(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, bool | None | str]]:
    folder = tmp / "bare-sse"
    folder.mkdir(exist_ok=True)
    write_bare_app(folder, b"{}", b"{}")
    mock = mock_server("chat-mock, 1 worker", 1, "--worker-connections", "4000")
    mock.cmd[mock.cmd.index("--token-interval-ms") + 1] = str(INTERVAL_MS)
    bare = bare_server(folder, 1)
    print(
        f"\n== {args.streams} concurrent streams, {STREAM_FRAMES} tokens {INTERVAL_MS:.0f} ms apart, one"
        f" worker each, {args.rounds} interleaved rounds"
    )
    out: dict[str, list[dict]] = {}
    with running([mock, bare]) as up:
        for _ in range(args.rounds):
            for s in up:
                r = sse_drift(s, args.streams)
                out.setdefault(s.name, []).append(r)
                print(
                    f"  {s.name:34s} {r['completed']}/{r['asked']} complete ({r['errors']} errors) in"
                    f" {r['wall']:.2f} s; drift p50 {r['p50']:+.1f} ms p99 {r['p99']:+.1f} ms;"
                    f" first token p99 {r['first_p99']:.0f} ms",
                    flush=True,
                )
    if mock.name not in out or bare.name not in out:
        return []
    m = statistics.median(r["p99"] for r in out[mock.name])
    b = statistics.median(r["p99"] for r in out[bare.name])
    complete = all(r["completed"] == r["asked"] for r in out[mock.name])
    r_ = ratio(max(m, 0.001), max(b, 0.001))
    return [
        (
            f"{args.streams} streams: drift p99 <= 1.2x bare SSE",
            f"{m:.0f} / {b:.0f} ms = {r_:.2f}x",
            complete and r_ <= 1.2,
        )
    ]


if __name__ == "__main__":
    raise SystemExit(main())
