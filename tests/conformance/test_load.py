"""`chat-conformance load`: a run against the mock holds every invariant, distributed mode works, and
each load gallery variant is caught by a load run and passes a single-user run.

Every run is a separate process (`python -m conformance load ...`), as a user runs it, a few
seconds of load each; the runs of one test go in parallel.
"""

from __future__ import annotations

import json
import os
import re
import shlex
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
from tests.served import served_mock

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
            "--locust-html",
            str(Path(tmp) / "locust.html"),
        )
        assert doc["exit_code"] == 0, doc["output"]
        assert verdicts(doc) == {c: {"passed"} for c in INVARIANTS}
        assert [(t["rule"], t["verdict"]) for t in doc["thresholds"]] == [("p99>60s", "ok")]
        assert doc["verdict"].startswith("PASS: every invariant holds") and doc["areas"]["load"]["score"] == 1
        figures = doc["load"]
        assert figures["total"]["requests"] > 10 and figures["total"]["failures"] == 0
        names = {r["name"] for r in figures["operations"]}
        assert "getParameters" in names and "sendChatMessage (streaming)" in names
        assert figures["streams"]["ttft"]["count"] > 0 and figures["streams"]["ttft"]["p50"] > 0
        assert_one_percentile_method(figures)
        assert doc["meta"]["users created"] == 8
        assert removed(doc) == doc["meta"]["conversations created"] > 0
        assert conversations_of_run(root, doc) == 0
        assert "## Throughput and latency" in md.read_text() and "time to first token" in md.read_text()
        page = html.read_text()
        assert "<h2>Invariants</h2>" in page and "<h2>Thresholds (--fail-on)</h2>" in page
        assert "locust" in (Path(tmp) / "locust.html").read_text()[:5000].lower()  # Locust's own, beside it
        assert page.count("<svg") == 4 and int(page.split('data-points="')[1].split('"')[0]) >= 4
        assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
        assert f'data-meta="contract (openapi.yaml) sha256">{doc["meta"]["contract sha256"]}' in page
        assert doc["meta"]["kit version"] and "chat-contract-kit" in page
        cases = ET.parse(junit).getroot().findall(".//testcase")
        assert {c.get("name") for c in cases} >= INVARIANTS and not ET.parse(junit).getroot().findall(
            ".//failure"
        )
        assert "sendChatMessage (streaming)" in doc["output"]  # the figures are printed


def assert_one_percentile_method(figures: dict[str, Any]) -> None:
    """Every figure of a load report: p50 <= p95 <= p99 <= max, for every operation, all of them, each
    stream timing and every point over time (one exact method: Locust's rounded buckets gave p99 4000
    beside max 4025)."""
    rows = [*figures["operations"], figures["total"], *figures["streams"].values()]
    for row in rows:
        if row.get("p50") is not None:
            assert row["p50"] <= row["p95"] <= row["p99"] <= row["max"], row
    for point in figures["series"]["points"]:
        if point["p50"] is not None:
            assert point["p50"] <= point["p95"] <= point["p99"] <= figures["total"]["max"], point
    assert figures["total"]["max"] == max(r["max"] for r in figures["operations"] if r["max"] is not None)


def readme_load_example() -> list[str]:
    """The arguments of README's load example (section 'Under load'), as a shell would split them."""
    text = (ROOT / "README.md").read_text().split("### Under load")[1]
    block = text.split("```bash\n")[1].split("```")[0].replace("\\\n", " ")
    args = shlex.split(block)
    assert args[:2] == ["chat-conformance", "load"], args
    return args[2:]


def test_readme_example_passes_against_the_readme_mock_and_prints_progress() -> None:
    """README's load command (its thresholds) against the mock as README starts it (default pacing:
    TTFT 300 ms, 30 ms a token, so a stream takes ~4 s): exit 0, and a status line at least every 10 s.
    Shorter and with fewer users than README's, so the test stays light; the thresholds are README's."""
    args = readme_load_example()
    assert "--fail-on" in args
    with served_mock() as mock, tempfile.TemporaryDirectory() as tmp:
        chosen = {"--base-url": mock.url + "/v1", "--users": "10", "--run-time": "12s"}
        for i, arg in enumerate(args):
            if arg in chosen:
                args[i + 1] = chosen[arg]
            elif arg in ("--report", "--junitxml"):
                args[i + 1] = str(Path(tmp) / Path(args[i + 1]).name)
        report = Path(tmp) / "load.json"
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "load", *args, "--report", str(report)],
            capture_output=True, text=True, timeout=120, env=ENV, cwd=tmp,
        )  # fmt: skip
        doc = json.loads(report.read_text()) if report.exists() else {}
        never = load("--base-url", mock.url + "/v1", "--api-key", "k", "--status-every", "0", cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    stream = next(r for r in doc["load"]["operations"] if r["name"] == "sendChatMessage (streaming)")
    streams = doc["load"]["streams"]
    assert stream["max"] == streams["ttft"]["max"] < streams["duration"]["max"]  # judged on the first token
    assert {t["verdict"] for t in doc["thresholds"]} == {"ok"}
    status = [line for line in proc.stderr.splitlines() if re.match(r"\s*\d+ s  users ", line)]
    seconds = [int(line.split()[0]) for line in status]
    assert len(seconds) >= 2 and seconds[0] <= 10, proc.stderr
    assert all(0 < b - a <= 10 for a, b in zip(seconds, seconds[1:], strict=False)), seconds
    assert never.returncode == 2 and never.stderr.startswith("chat-conformance load: --status-every")


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
        assert [t["verdict"] for t in budget["thresholds"]] == ["breached"]
        assert verdicts(budget) == {c: {"passed"} for c in INVARIANTS}  # a threshold is no check
        assert budget["areas"]["load"]["score"] == 1 and "threshold(s) breached: p50>0ms" in budget["verdict"]
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
