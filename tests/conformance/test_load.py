"""`chat-conformance load`: a run against the mock holds every invariant, distributed mode works, and
each load gallery variant is caught by a load run and passes a single-user run.

Every run is a separate process (`python -m conformance load ...`), as a user runs it, a few
seconds of load each; the runs of one test go in parallel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conformance.harness import KEY, ROOT, free_port, mock_app, serve
from tests.conformance.load_gallery import LOAD_BROKEN, LoadVariant

ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
SHORT = [
    "--run-time",
    "4s",
    "--spawn-rate",
    "20",
    "--stop-timeout",
    "5",
    "--timeout",
    "5",
    "--stream-timeout",
    "10",
]
INVARIANTS = {
    "load.responses_valid",
    "load.streams_complete",
    "load.acknowledged_in_history",
    "load.isolation",
    "load.pagination_consistent",
}


def load(*args: str, cwd: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conformance", "load", "-q", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        cwd=cwd,
    )


def run_load(root: str, *args: str, users: int = 8) -> dict[str, Any]:
    """A short load run; returns its JSON report with the exit code and output."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "load.json"
        proc = load(
            "--base-url",
            root + "/v1",
            "--api-key",
            KEY,
            "--users",
            str(users),
            *SHORT,
            "--report",
            str(report),
            *args,
            cwd=tmp,
        )
        doc = json.loads(report.read_text()) if report.exists() else {"results": [], "meta": {}}
    doc["exit_code"], doc["output"] = proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]
    return doc


def verdicts(doc: dict[str, Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in doc["results"]:
        out.setdefault(r["check"], set()).add(r["outcome"])
    return out


def conversations_of_run(root: str, doc: dict[str, Any]) -> int:
    """Conversations the mock still holds for the users of a run (listed through the API)."""
    users = {f"{doc['meta']['user prefix']}-{doc['meta']['run id']}-u{i}" for i in range(50)}
    total = 0
    for user in users:
        answer = requests.get(
            root + "/v1/conversations",
            params={"user": user, "limit": 100},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=5,
        )
        total += len(answer.json()["data"])
    return total


def removed(doc: dict[str, Any]) -> int:
    meta = doc["meta"]
    return meta["conversations deleted by the users"] + meta["conversations removed at the end"]


def test_load_run_against_mock_holds_every_invariant_and_cleans_up() -> None:
    with serve(mock_app()) as root, tempfile.TemporaryDirectory() as tmp:
        md, html, junit = Path(tmp) / "load.md", Path(tmp) / "load.html", Path(tmp) / "load.xml"
        doc = run_load(
            root,
            "--report",
            str(md),
            "--report",
            str(html),
            "--junitxml",
            str(junit),
            "--fail-on",
            "p99>60s",
            "--think-time",
            "0-0.3",
        )
        assert doc["exit_code"] == 0, doc["output"]
        assert verdicts(doc) == {**{c: {"passed"} for c in INVARIANTS}, "load.threshold": {"passed"}}
        figures = doc["load"]
        assert figures["total"]["requests"] > 10 and figures["total"]["failures"] == 0
        names = {r["name"] for r in figures["operations"]}
        assert "getParameters" in names and "sendChatMessage (streaming)" in names
        assert figures["streams"]["ttft"]["count"] > 0 and figures["streams"]["ttft"]["p50"] > 0
        assert doc["meta"]["users created"] == 8
        assert removed(doc) == doc["meta"]["conversations created"] > 0
        assert conversations_of_run(root, doc) == 0
        assert "## Throughput and latency" in md.read_text() and "time to first token" in md.read_text()
        assert "<h2>Invariants</h2>" in html.read_text()
        cases = ET.parse(junit).getroot().findall(".//testcase")
        assert {c.get("name") for c in cases} >= INVARIANTS and not ET.parse(junit).getroot().findall(
            ".//failure"
        )
        assert "sendChatMessage (streaming)" in doc["output"]  # the figures are printed


def test_budget_thresholds_and_keep() -> None:
    with serve(mock_app()) as root:
        with ThreadPoolExecutor(2) as pool:
            budget = pool.submit(
                run_load,
                root,
                "--max-chat-calls",
                "5",
                "--fail-on",
                "p50>0ms",
                "--think-time",
                "0-0.1",
                users=4,
            )
            # a short think time, so the budget is spent within the run (with the default one, 2 users
            # sometimes made no chat call at all in 4 s, and kept nothing to count)
            kept = pool.submit(
                run_load, root, "--keep", "--max-chat-calls", "3", "--think-time", "0-0.1", users=2
            )
            budget, kept = budget.result(), kept.result()
        assert budget["exit_code"] == 1, budget["output"]
        assert verdicts(budget)["load.threshold"] == {"failed"}
        assert all(verdicts(budget)[c] == {"passed"} for c in INVARIANTS)
        assert "of 5 made (budget --max-chat-calls 5)" in budget["meta"]["answer-producing calls"]
        sends = sum(
            r["requests"] for r in budget["load"]["operations"] if r["name"].startswith("sendChatMessage")
        )
        assert sends == 5
        assert kept["exit_code"] == 0 and kept["meta"]["conversations removed at the end"] == "kept (--keep)"
        meta = kept["meta"]
        kept_count = meta["conversations created"] - meta["conversations deleted by the users"]
        assert conversations_of_run(root, kept) == kept_count > 0, (meta, kept["output"])


def test_usage_errors_and_preflight() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        bad = load("--base-url", "http://127.0.0.1:9/v1", "--api-key", "k", "--fail-on", "p99>>1", cwd=tmp)
        assert bad.returncode == 2 and "--fail-on" in bad.stderr
        port = free_port()  # nothing listens there
        nothing = load("--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", "k", cwd=tmp)
        assert nothing.returncode == 3 and "nothing answers" in nothing.stderr
    with serve(mock_app()) as root, tempfile.TemporaryDirectory() as tmp:
        refused = load("--base-url", root + "/v1", "--api-key", "wrong", cwd=tmp)
        assert refused.returncode == 6, refused.stderr


def test_distributed_master_and_two_workers_on_loopback() -> None:
    port = free_port()
    with serve(mock_app()) as root, tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "load.json"
        master = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conformance",
                "load",
                "-q",
                "--master",
                "--expect-workers",
                "2",
                "--master-bind-host",
                "127.0.0.1",
                "--master-bind-port",
                str(port),
                "--base-url",
                root + "/v1",
                "--api-key",
                KEY,
                "--users",
                "6",
                *SHORT,
                "--think-time",  # brief, so every run makes chat calls (counted below)
                "0-0.3",
                "--report",
                str(report),
            ],
            env=ENV,
            cwd=tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "conformance",
                    "load",
                    "-q",
                    "--worker",
                    "--master-host",
                    "127.0.0.1",
                    "--master-port",
                    str(port),
                ],
                env=ENV,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            out, err = master.communicate(timeout=120)
            codes = [w.wait(timeout=30) for w in workers]
        finally:
            for p in [master, *workers]:
                if p.poll() is None:
                    p.kill()
        assert master.returncode == 0, out + err
        assert codes == [0, 0]
        doc = json.loads(report.read_text())
        assert doc["load"]["workers"] == 2
        assert all(r["outcome"] == "passed" for r in doc["results"]), doc["results"]
        assert doc["meta"]["users created"] == 6
        assert sorted(doc["load"]["users_by_worker"]) == ["w0", "w1"]
        assert removed(doc) == doc["meta"]["conversations created"] > 0
        assert doc["load"]["total"]["requests"] > 10


@pytest.mark.parametrize("variant", LOAD_BROKEN, ids=[v.name for v in LOAD_BROKEN])
def test_load_gallery_variant_caught_under_load_not_by_one_user(variant: LoadVariant) -> None:
    with (
        serve(variant.make(mock_app())) as crowded,
        serve(variant.make(mock_app())) as quiet,
        ThreadPoolExecutor(2) as pool,
    ):  # two servers: the single user must be alone on its own
        crowd = pool.submit(run_load, crowded, "--think-time", "0-0.1", users=12)
        alone = pool.submit(run_load, quiet, users=1)
        crowd, alone = crowd.result(), alone.result()
    assert crowd["exit_code"] == 1, crowd["output"]
    assert verdicts(crowd)[variant.catches] == {"failed"}, crowd["output"]
    caught = [r for r in crowd["results"] if r["outcome"] == "failed"]
    assert all(r["evidence"] for r in caught)
    assert alone["exit_code"] == 0, alone["output"]
