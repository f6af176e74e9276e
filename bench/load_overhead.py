"""What the load mode's judging costs: CPU per request of `chat-conformance load` beside plain Locust.

    python bench/load_overhead.py [--users 20] [--duration 20] [--rounds 2] [--profile FILE]

One `chat-mock --workers 2` (pacing off) on 127.0.0.1 serves both loads, run one after the other
(interleaved over --rounds): plain Locust `HttpUser`s making the same kinds of calls as the load
mode's users (parameters, conversation lists, blocking and streaming chats read line by line,
history pages, feedback) without judging anything, then `chat-conformance load` with the same users
and no think time, every answer judged. Each run's CPU is the load process's own (its children
included, from getrusage), divided by the requests Locust counted. Prints both and the ratio (the
issue's target: <= 1.5x). `--profile FILE` also writes a cProfile of one in-process load run (where
the judge's time goes; read it with `python -m pstats FILE`). Nothing here passes or fails: it prints
numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_mock  # noqa: E402  (same folder: free ports, readiness)

ROOT = Path(__file__).resolve().parent.parent
KEY = "app-mock-dev-key"

PLAIN_LOCUSTFILE = '''
"""Plain Locust users making the load mode's calls, judging nothing (the baseline)."""
import random
from locust import HttpUser, task

KEY = {key!r}
QUERIES = ["Which movie is the best?", "Can you explain why?", "Tell me more."]
INPUTS = {{"book": "conformance", "myName": "conformance", "tone": "friendly", "notes": "conformance"}}


class Plain(HttpUser):
    wait_time = staticmethod(lambda: 0)

    def on_start(self):
        self.headers = {{"Authorization": "Bearer " + KEY}}
        self.user = "plain-%d" % random.randrange(10**9)
        self.conversations, self.messages = [], []
        self.client.get("/v1/parameters", params={{"user": self.user}}, headers=self.headers,
                        name="getParameters")

    def _say(self, conversation_id, streaming):
        mode = "streaming" if streaming else "blocking"
        body = {{"inputs": INPUTS, "query": random.choice(QUERIES), "user": self.user,
                "conversation_id": conversation_id, "response_mode": mode}}
        if streaming:
            with self.client.post("/v1/chat-messages", json=body, headers=self.headers, stream=True,
                                  name="sendChatMessage (streaming)") as resp:
                for line in resp.iter_lines():
                    if line.startswith(b"data: ") and b'"message_end"' in line:
                        end = __import__("json").loads(line[6:])
                        self._remember(end.get("conversation_id"), end.get("id"))
        else:
            resp = self.client.post("/v1/chat-messages", json=body, headers=self.headers,
                                    name="sendChatMessage (blocking)")
            if resp.status_code == 200:
                answer = resp.json()
                self._remember(answer.get("conversation_id"), answer.get("id"))

    def _remember(self, conversation_id, message_id):
        if conversation_id and conversation_id not in self.conversations:
            self.conversations.append(conversation_id)
        if message_id:
            self.messages.append(message_id)

    @task(2)
    def new_conversation(self):
        self._say("", random.random() < 0.6)

    @task(3)
    def continue_conversation(self):
        self._say(random.choice(self.conversations) if self.conversations else "", random.random() < 0.6)

    @task(2)
    def history(self):
        if self.conversations:
            params = {{"conversation_id": random.choice(self.conversations), "user": self.user, "limit": 2}}
            self.client.get("/v1/messages", params=params, headers=self.headers, name="listMessages").json()

    @task(2)
    def listing(self):
        params = {{"user": self.user, "limit": 2}}
        self.client.get("/v1/conversations", params=params, headers=self.headers,
                        name="listConversations").json()

    @task(1)
    def rate(self):
        if self.messages:
            self.client.post("/v1/messages/%s/feedbacks" % random.choice(self.messages),
                             json={{"rating": "like", "user": self.user}}, headers=self.headers,
                             name="createMessageFeedback")
'''


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _plain(port: int, users: int, duration: int, tmp: Path) -> tuple[float, int]:
    locustfile = tmp / "plain_locustfile.py"
    locustfile.write_text(PLAIN_LOCUSTFILE.format(key=KEY))
    prefix = tmp / "plain"
    before = _child_cpu()
    subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r",
         str(users), "-t", f"{duration}s", "--host", f"http://127.0.0.1:{port}", "--csv", str(prefix),
         "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "5"],
        check=False, capture_output=True, timeout=duration + 60, cwd=tmp,
    )  # fmt: skip
    cpu = _child_cpu() - before
    with open(f"{prefix}_stats.csv", newline="") as f:
        total = next(int(r["Request Count"]) for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return cpu, total


def _judged(port: int, users: int, duration: int, tmp: Path) -> tuple[float, int]:
    report = tmp / "load.json"
    before = _child_cpu()
    subprocess.run(
        [sys.executable, "-m", "conformance", "load", "--base-url", f"http://127.0.0.1:{port}/v1",
         "--api-key", KEY, "-u", str(users), "-r", str(users), "-t", f"{duration}s", "--think-time",
         "0-0", "--report", str(report), "-q", "--stop-timeout", "5"],
        check=False, capture_output=True, timeout=duration + 120, cwd=tmp,
    )  # fmt: skip
    cpu = _child_cpu() - before
    figures = json.loads(report.read_text())["load"]
    total = sum(int(op.get("requests", 0)) for op in figures.get("operations", []))
    return cpu, total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--duration", type=int, default=20)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args()
    port = bench_mock._free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    mock = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--port", str(port), "--workers", "2", "--ttft-ms", "0",
         "--token-interval-ms", "0", "--jitter-ms", "0", "--journal-size", "1000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        bench_mock._wait_port(port)
        plain, judged = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                cpu, n = _plain(port, args.users, args.duration, Path(tmp))
                plain.append((cpu, n))
                cpu, n = _judged(port, args.users, args.duration, Path(tmp))
                judged.append((cpu, n))
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    per = {
        name: statistics.median(cpu / max(n, 1) * 1e6 for cpu, n in runs)
        for name, runs in (("plain Locust", plain), ("chat-conformance load", judged))
    }
    for name, runs in (("plain Locust", plain), ("chat-conformance load", judged)):
        shown = ", ".join(f"{n} requests in {cpu:.1f} s CPU" for cpu, n in runs)
        print(f"{name:<24} {per[name]:7.0f} us CPU per request   ({shown})")
    ratio = per["chat-conformance load"] / per["plain Locust"]
    print(f"ratio: {ratio:.2f}x   (target <= 1.5x; {args.users} users, no think time, {args.duration} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
