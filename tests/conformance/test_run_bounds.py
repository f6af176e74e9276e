"""Whole runs against hostile servers: the run's time budget, the body cap, SIGTERM and SIGINT.

The suite runs as a separate process (as a user runs it) inside a wrapper that records its peak
memory; wall time and memory are asserted loosely (under 2x the configured budget).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conformance import hostile
from tests.conformance.harness import ROOT

# Starting Python and importing pytest + schemathesis takes seconds on a loaded machine and comes
# before the budget's clock starts: wall-time assertions allow this much on top of 2x the budget.
STARTUP = 15.0

# Runs chat-conformance and writes its peak RSS (MB) to the file named by CONFORMANCE_PEAK_FILE.
# VmHWM is the high-water mark of this process's own memory since exec; ru_maxrss is not: Linux
# carries it across fork and exec, so under a big pytest parent it reported the parent's peak.
WRAPPER = """
import os, resource, sys
from conformance.cli import main

def peak_kb():
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

try:
    code = main(sys.argv[1:])
finally:
    with open(os.environ["CONFORMANCE_PEAK_FILE"], "w") as f:
        f.write(str(peak_kb() / 1024))
sys.exit(code)
"""


@dataclass
class Ran:
    code: int
    output: str
    seconds: float
    peak_mb: float
    files: Path

    def results(self) -> dict:
        return json.loads((self.files / "results.json").read_text())


def run_cli(
    url: str,
    tmp: Path,
    *args: str,
    send: signal.Signals | None = None,
    started: threading.Event | None = None,
) -> Ran:
    peak_file = tmp / "peak"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "CONFORMANCE_PEAK_FILE": str(peak_file),
    }
    argv = [
        sys.executable, "-c", WRAPPER, "--base-url", url + "/v1", "--api-key", "k",
        "--results-json", str(tmp / "results.json"), "--report", str(tmp / "report.md"),
        "--junitxml", str(tmp / "junit.xml"), "--timeout", "3", "--stream-timeout", "2", *args,
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if send is not None and started is not None:
        started.wait(60)  # the run has begun: its preflight reached the server
        time.sleep(2.0)  # ... and the checks are under way
        proc.send_signal(send)
    try:
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    seconds = time.monotonic() - start
    peak = float(peak_file.read_text()) if peak_file.exists() else -1.0
    return Ran(proc.returncode, out[-8000:], seconds, peak, tmp)


def test_a_dripping_server_is_judged_within_the_run_budget(tmp_path: Path) -> None:
    """Two answers in three drip a byte a second: the run stops at --max-time and says what it did not
    run. (A server whose every answer drips stops the run sooner: it does not answer, see below.)"""
    budget = 6.0  # well short of the ~10 s these checks take against this server
    with hostile.hostile_server(hostile.drip_but_one_in_three()) as url:
        ran = run_cli(
            url, tmp_path, "--only", "chat,history,conversations,feedback", "--max-time", str(budget)
        )
    assert ran.seconds < 2 * budget + STARTUP, ran.output
    assert ran.code == 1 or ran.code == 8, ran.output  # some checks failed on the dripping answers
    doc = ran.results()
    assert "spent" in doc["meta"]["stopped early"]
    not_run = [r for r in doc["results"] if r["message"].startswith("not run: the run's time budget")]
    assert not_run, "the checks left when the budget was spent are reported as not run"
    failed = [r for r in doc["results"] if r["outcome"] == "failed"]
    assert all("not JSON" not in r["message"] for r in failed)
    assert "stopped early" in (tmp_path / "report.md").read_text()
    assert 'name="budget"' in (tmp_path / "junit.xml").read_text()
    assert ran.peak_mb < 400, f"peak {ran.peak_mb:.0f} MB"


def test_a_2_gb_answer_is_a_finding_not_an_out_of_memory(tmp_path: Path) -> None:
    with hostile.hostile_server(hostile.huge_body) as url:
        ran = run_cli(url, tmp_path, "--only", "parameters", "--max-body-mb", "2", "--max-time", "30")
    assert ran.code == 1, ran.output
    messages = [r["message"] for r in ran.results()["results"] if r["outcome"] == "failed"]
    assert messages and all("the body exceeded 2 MB" in m for m in messages), messages
    assert ran.peak_mb < 400, f"peak {ran.peak_mb:.0f} MB"
    assert ran.seconds < 30


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_writes_every_file_marked_interrupted(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    started = threading.Event()
    with hostile.hostile_server(hostile.never_answers, started) as url:
        ran = run_cli(url, tmp_path, "--only", "chat,history", send=sig, started=started)
    assert ran.code == code, ran.output
    assert ran.seconds < 60, "an interrupted run finishes within the cleanup grace"
    doc = ran.results()
    meta = doc["meta"]
    assert meta["interrupted"].startswith(f"interrupted by {sig.name} after")
    report = (tmp_path / "report.md").read_text()
    assert f"interrupted by {sig.name}" in report
    judged = [r for r in doc["results"] if r["level"] == "MUST" and r["outcome"] != "skipped"]
    if not judged:  # stopped before any check was judged: no verdict, never a PASS
        assert doc["verdict"].startswith("NO VERDICT") and "**Verdict: NO VERDICT" in report, doc["verdict"]
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite[@name='chat-conformance.run']")
    assert suite is not None  # one suite per area; how the run stopped is the `run` suite's
    names = [c.get("name") for c in suite.iter("testcase")]
    assert "interrupted" in names


@pytest.mark.parametrize(
    "server", [hostile.never_answers, hostile.redirect_forever, hostile.drip_body, hostile.endless_sse]
)
def test_fuzzing_a_server_that_never_answers_passes_nothing_and_stays_bounded(
    tmp_path: Path, server: hostile.Handler
) -> None:
    budget = 90.0  # generous: this test is about what is judged; fuzzing's own limit is 20 s
    with hostile.hostile_server(server) as url:
        ran = run_cli(
            url, tmp_path, "--only", "fuzz", "--max-examples", "1", "--fuzz-max-time", "20",
            "--max-time", str(budget),
        )  # fmt: skip
    assert ran.seconds < 2 * budget + STARTUP, ran.output
    doc = ran.results()
    fuzz = [r for r in doc["results"] if r["area"] == "fuzz"]
    assert not [r for r in fuzz if r["outcome"] == "passed"], "a check that saw no answer passed"
    # each fuzz check that ran fails; once the run concludes that nothing answers, the rest is not run
    failed = [r for r in fuzz if r["outcome"] == "failed"]
    assert failed or "server does not answer" in doc["meta"], ran.output
    assert ran.code == 1 and doc["verdict"].startswith("FAIL")
    assert not (tmp_path / ".hypothesis").exists(), "hypothesis wrote into the working directory"
    assert ran.peak_mb < 400, f"peak {ran.peak_mb:.0f} MB"


def test_every_exit_status_is_documented_in_help_and_readme() -> None:
    from conformance.cli import build_parser
    from conformance.options import EXIT_CODES, EXIT_USAGE

    codes = [code for code, _ in EXIT_CODES]
    assert len(set(codes)) == len(codes) and EXIT_USAGE == 2
    assert {8, 130, 143} <= set(codes)  # budget spent, SIGINT, SIGTERM: never the usage-error 2
    helptext = build_parser().format_help()
    readme = (ROOT / "README.md").read_text()
    for code, _ in EXIT_CODES:
        assert f"\n  {code}  " in helptext
        assert f"\n| {code} | " in readme


def test_a_run_that_judges_no_must_check_has_no_verdict(tmp_path: Path) -> None:
    """Every check skipped (fuzzing turned off, the only area asked for): not a PASS but NO VERDICT,
    with an exit status of its own, in the terminal, the JSON and every report."""
    from conformance.options import EXIT_NO_VERDICT
    from tests.conformance.harness import mock_app, serve

    with serve(mock_app(api_keys=["k"])) as root:  # run_cli sends the key "k"
        html = str(tmp_path / "r.html")
        ran = run_cli(root, tmp_path, "--only", "fuzz", "--max-examples", "0", "--report", html)
    assert ran.code == EXIT_NO_VERDICT, ran.output
    doc = ran.results()
    assert doc["results"] and all(r["outcome"] == "skipped" for r in doc["results"])
    assert doc["verdict"].startswith("NO VERDICT: no MUST check was judged"), doc["verdict"]
    assert "verdict: NO VERDICT" in ran.output
    assert "**Verdict: NO VERDICT" in (tmp_path / "report.md").read_text()
    assert 'data-verdict="NO VERDICT"' in (tmp_path / "r.html").read_text()
    assert 'class="banner pass"' not in (tmp_path / "r.html").read_text()


@pytest.mark.parametrize(
    "server", [hostile.drip_body, hostile.endless_sse, hostile.drip_status_line, hostile.never_answers]
)
def test_a_server_that_does_not_answer_stops_the_run_with_the_reason(
    tmp_path: Path, server: hostile.Handler
) -> None:
    """Every exchange waits out its deadline: after three in a row (on two operations or more) the run
    concludes the server does not answer, says so in one line and in every report, and reports the
    rest as not run, instead of spending its whole budget (--max-time 900 s by default)."""
    with hostile.hostile_server(server) as url:
        ran = run_cli(url, tmp_path)  # every area, the default --max-time (900 s)
    assert ran.code == 1, ran.output
    assert ran.seconds < 60 + STARTUP, ran.output  # timeouts of 3 and 2 s here (the defaults: README)
    assert "chat-conformance: stopped: the server does not answer: 3 exchanges in a row" in ran.output
    doc = ran.results()
    assert doc["verdict"].startswith("FAIL: the server does not answer"), doc["verdict"]
    assert "server does not answer" in doc["meta"] and "not run" in doc["meta"]["stopped early"]
    not_run = [r for r in doc["results"] if r["message"].startswith("not run: the server does not answer")]
    assert len(not_run) > 50, "the checks left are reported as not run, with the reason"
    assert not [r for r in doc["results"] if r["outcome"] == "passed" and r["level"] == "MUST"]
    assert "the server does not answer" in (tmp_path / "report.md").read_text()
    assert 'name="no answer"' in (tmp_path / "junit.xml").read_text()
    assert ran.peak_mb < 400, f"peak {ran.peak_mb:.0f} MB"


@pytest.mark.parametrize("server", [hostile.drip_body, hostile.endless_sse])
def test_fuzzing_cut_before_any_answer_is_no_pass(tmp_path: Path, server: hostile.Handler) -> None:
    """Issue 20: `--only fuzz` against a server that drips, with fuzzing's time (--fuzz-max-time) shorter
    than an exchange's deadline: no generated case ever got an answer, all 52 fuzz checks were skipped,
    and the run said "Verdict: PASS" with exit status 0."""
    from conformance.options import EXIT_NO_VERDICT, EXIT_OK

    with hostile.hostile_server(server) as url:
        ran = run_cli(url, tmp_path, "--only", "fuzz", "--stream-timeout", "6", "--fuzz-max-time", "3")
    doc = ran.results()
    assert not [r for r in doc["results"] if r["outcome"] == "passed"]
    assert ran.code != EXIT_OK and not doc["verdict"].startswith("PASS"), doc["verdict"]
    assert ran.code in (EXIT_NO_VERDICT, 1), ran.output
