"""The GitHub Action's steps (action.yml at the repository root): start the mock if asked, wait for the
server, run chat-conformance, write the verdict and the causes to the job summary.

Inputs come as environment variables (action.yml maps each `inputs.*` to one); the API key only ever
as CHAT_CONFORMANCE_API_KEY, never on a command line (where `ps` and the log would show it). Runs on
the standard library and the installed kit alone, so the project's tests run it as CI would.
Exit status: chat-conformance's (0 pass, 1 fail, 2 usage, 3 unreachable, ...; see its --help).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

KEY_ENV = "CHAT_CONFORMANCE_API_KEY"
MOCK_KEY = "app-mock-dev-key"  # the mock's default app, judged when the job starts the mock itself
MOCK_STOP_S = 30.0
CAUSES_SHOWN = 20
TAIL_LINES = 60


def _input(name: str, default: str = "") -> str:
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip() or default


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def suite_command(reports: Path, base_url: str) -> list[str]:
    """The chat-conformance command line: every report into `reports`; no key (it is in the env)."""
    cmd = [sys.executable, "-m", "conformance", "--base-url", base_url]
    cmd += ["--wait-for-server", _input("wait-for-server", "60")]
    for suffix in ("md", "html", "json"):
        cmd += ["--report", str(reports / f"conformance.{suffix}")]
    cmd += ["--junitxml", str(reports / "conformance.xml")]
    if _input("baseline"):
        cmd += ["--baseline", _input("baseline")]
    if _input("max-chat-calls"):
        cmd += ["--max-chat-calls", _input("max-chat-calls")]
    return cmd + shlex.split(_input("args"))


def start_mock(reports: Path) -> tuple[subprocess.Popen[bytes], str]:
    """chat-mock in the background, its output in reports/chat-mock.log; (process, its base URL)."""
    port = _input("mock-port", "5001")
    log = (reports / "chat-mock.log").open("wb")
    cmd = [sys.executable, "-m", "mock_server", "--port", port, *shlex.split(_input("mock-args"))]
    print("chat-conformance action: starting", shlex.join(cmd[1:]), flush=True)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}/v1"


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=MOCK_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def summary(doc: dict[str, Any] | None, exit_code: int, output_tail: str) -> str:
    """The job summary (Markdown): the verdict, the score per area and the causes of the failures."""
    if doc is None:
        return (
            f"## chat-conformance: no report (exit {exit_code})\n\n```\n{output_tail.strip()[-3000:]}\n```\n"
        )
    meta = doc.get("meta", {})
    out = [f"## chat-conformance: {doc.get('verdict', '?')}", ""]
    about = [
        f"{key}: `{meta[key]}`"
        for key in ("base URL", "era", "kit version", "contract sha256")
        if meta.get(key)
    ]
    out += [" · ".join(about), "", f"Exit status {exit_code}.", ""]
    areas = doc.get("areas") or {}
    if areas:
        out += [
            "| area | score | passed | failed | blocked | warnings | skipped |",
            "|---|---|---|---|---|---|---|",
        ]
        for area, c in areas.items():
            score = c.get("score")
            shown = "n/a" if score is None else f"{100 * score:.0f}%"
            out.append(
                f"| {area} | {shown} | {c.get('passed', 0)} | {c.get('failed', 0)} | {c.get('blocked', 0)}"
                f" | {c.get('warning', 0)} | {c.get('skipped', 0)} |"
            )
        out.append("")
    causes = doc.get("causes") or []
    if causes:
        out += [f"### Failures by root cause ({len(causes)})", ""]
        for i, cause in enumerate(causes[:CAUSES_SHOWN], 1):
            failed, blocked = cause.get("failed", []), cause.get("blocked", [])
            checks = ", ".join(f"`{name}`" for name in (failed + blocked)[:6])
            more = f" and {len(failed) + len(blocked) - 6} more" if len(failed) + len(blocked) > 6 else ""
            out.append(f"{i}. **{cause.get('title', cause.get('key', '?'))}**: {checks}{more}")
        if len(causes) > CAUSES_SHOWN:
            out.append(f"\n... and {len(causes) - CAUSES_SHOWN} more causes: see the report artifact.")
        out.append("")
    baseline = doc.get("baseline")
    if baseline:
        out.append(
            f"Baseline: {len(baseline.get('known', []))} known, {len(baseline.get('new', []))} new, "
            f"{len(baseline.get('fixed', []))} fixed."
        )
        out.append("")
    out.append("The full report (HTML, Markdown, JSON) and the JUnit file are in the job's artifact.")
    return "\n".join(out) + "\n"


def _append(env_name: str, text: str) -> None:
    target = os.environ.get(env_name)
    if target:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(text)


def main() -> int:
    reports = Path(_input("reports-dir", "conformance-reports")).resolve()
    reports.mkdir(parents=True, exist_ok=True)
    key = os.environ.get(KEY_ENV, "").strip()
    if key and os.environ.get("GITHUB_ACTIONS") == "true":
        print(f"::add-mask::{key}", flush=True)  # never shown in the log, whatever prints it
    mock = None
    base_url = _input("base-url")
    if _truthy(_input("start-mock", "false")):
        mock, mock_url = start_mock(reports)
        base_url = base_url or mock_url
        key = key or MOCK_KEY
    if not base_url:
        print("chat-conformance action: error: no base-url given and start-mock is false", file=sys.stderr)
        return 2
    env = {**os.environ, KEY_ENV: key} if key else dict(os.environ)
    cmd = suite_command(reports, base_url)
    print("chat-conformance action: running", shlex.join(["chat-conformance", *cmd[3:]]), flush=True)
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)  # for the summary when the run wrote no report
    try:
        with subprocess.Popen(
            cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        ) as run:
            assert run.stdout is not None
            for line in run.stdout:  # shown as it comes (a run takes minutes)
                sys.stdout.write(line)
                tail.append(line)
        code = run.returncode
    finally:
        if mock is not None:
            stop(mock)
    print(f"chat-conformance action: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
    report = reports / "conformance.json"
    doc = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    _append("GITHUB_STEP_SUMMARY", summary(doc, code, "".join(tail)))
    verdict = (doc or {}).get("verdict", f"no report (exit {code})")
    _append("GITHUB_OUTPUT", f"verdict={' '.join(str(verdict).split())}\nexit-code={code}\n")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
