"""The GitHub Action (action.yml): its steps' script run here as a CI job would run it, green against
the mock it starts, red against a broken server; the key never on a command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conformance.gallery.feedback import feedback_not_stored
from tests.conformance.harness import KEY, mock_app, serve
from tests.served import free_port

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "action" / "run_conformance.py"
QUICK = "--only parameters,feedback --max-examples 0 --request-timeout 3 --stream-timeout 10"
SECRET = "app-secret-never-on-a-command-line"


def _action() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))


def test_the_action_is_composite_with_the_documented_inputs() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    assert {"base-url", "api-key", "baseline", "max-chat-calls", "start-mock", "wait-for-server"} <= set(
        action["inputs"]
    )
    steps = action["runs"]["steps"]
    judge = next(s for s in steps if s.get("id") == "judge")
    assert "action/run_conformance.py" in judge["run"]
    # every input the script reads is mapped onto its environment, under the name it reads
    for name in action["inputs"]:
        if name in ("api-key", "upload", "artifact-name", "python-version"):
            continue
        assert judge["env"][f"INPUT_{name.upper().replace('-', '_')}"] == f"${{{{ inputs.{name} }}}}"
    upload = next(s for s in steps if "upload-artifact" in s.get("uses", ""))
    assert upload["if"].startswith("always()")  # the reports of a failing run are what one needs
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert "[conformance]" in install["run"]


def test_the_key_is_passed_in_the_environment_only() -> None:
    text = (ROOT / "action.yml").read_text(encoding="utf-8")
    uses = [line.strip() for line in text.splitlines() if "inputs.api-key" in line]
    assert uses == ["CHAT_CONFORMANCE_API_KEY: ${{ inputs.api-key }}"]
    for step in _action()["runs"]["steps"]:
        assert "api-key" not in step.get("run", "") and "API_KEY" not in step.get("run", "")


def _run(tmp_path: Path, **inputs: str) -> tuple[subprocess.CompletedProcess[str], str, dict[str, str]]:
    """The judge step as GitHub runs it: inputs in INPUT_*, the summary and outputs files."""
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INPUT_", "GITHUB_"))}
    env.pop("CHAT_CONFORMANCE_API_KEY", None)
    env.update({"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs), "PYTHONPATH": str(ROOT)})
    for name, value in inputs.items():
        if name == "api_key":
            env["CHAT_CONFORMANCE_API_KEY"] = value
        else:
            env[f"INPUT_{name.upper()}"] = value
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240
    )
    said = dict(line.split("=", 1) for line in outputs.read_text().splitlines()) if outputs.exists() else {}
    return proc, summary.read_text() if summary.exists() else "", said


def test_green_against_the_mock_it_starts(tmp_path: Path) -> None:
    proc, summary, outputs = _run(
        tmp_path,
        start_mock="true",
        mock_port=str(free_port()),
        mock_args="--ttft-ms 0 --token-interval-ms 0 --jitter-ms 0",
        args=QUICK,
        reports_dir="out",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary.startswith("## chat-conformance: PASS"), summary
    assert "| parameters | 100% |" in summary and "| feedback | 100% |" in summary
    assert outputs == {"verdict": outputs["verdict"], "exit-code": "0"} and outputs["verdict"].startswith(
        "PASS"
    )
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {
        "conformance.md",
        "conformance.html",
        "conformance.json",
        "conformance.xml",
        "chat-mock.log",
    }
    assert json.loads((out / "conformance.json").read_text())["verdict"].startswith("PASS")
    suites = {s.get("name") for s in ET.parse(out / "conformance.xml").getroot().findall("testsuite")}
    assert suites == {"chat-conformance.parameters", "chat-conformance.feedback"}
    assert "Traceback" not in (out / "chat-mock.log").read_text()


def test_red_against_a_broken_server_with_the_causes_in_the_summary(tmp_path: Path) -> None:
    with serve(feedback_not_stored(mock_app(api_keys=[SECRET]))) as url:
        proc, summary, outputs = _run(tmp_path, base_url=url + "/v1", api_key=SECRET, args=QUICK)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary.startswith("## chat-conformance: FAIL"), summary
    assert "### Failures by root cause" in summary and "`feedback." in summary
    assert outputs["exit-code"] == "1" and outputs["verdict"].startswith("FAIL")
    # the key reached the suite (it was judged, not refused) and never its command line
    assert SECRET not in proc.stdout + proc.stderr
    assert "chat-conformance action: running chat-conformance --base-url" in proc.stdout


def test_nothing_to_judge_and_nothing_listening_say_so(tmp_path: Path) -> None:
    proc, summary, _ = _run(tmp_path)
    assert proc.returncode == 2 and "no base-url given and start-mock is false" in proc.stderr
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc, summary, outputs = _run(tmp_path, base_url=url, api_key=KEY, wait_for_server="1", args=QUICK)
    assert proc.returncode == 3
    assert summary.startswith("## chat-conformance: NOT RUN: nothing answers at"), summary
    assert outputs["exit-code"] == "3"


@pytest.mark.parametrize("flag", ["--baseline", "--max-chat-calls"])
def test_the_inputs_become_the_suites_options(tmp_path: Path, flag: str) -> None:
    code = (
        "import os, sys; sys.path.insert(0, 'action')\n"
        "os.environ['INPUT_BASELINE'] = 'known.yaml'; os.environ['INPUT_MAX_CHAT_CALLS'] = '40'\n"
        "os.environ['INPUT_ARGS'] = '--skip fuzz'\n"
        "from pathlib import Path; from run_conformance import suite_command\n"
        "print(repr(suite_command(Path('r'), 'http://h/v1')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    cmd = eval(out.stdout)  # noqa: S307 - our own repr of a list of strings
    assert cmd[cmd.index(flag) + 1] == {"--baseline": "known.yaml", "--max-chat-calls": "40"}[flag]
    assert cmd[-2:] == ["--skip", "fuzz"] and "--api-key" not in cmd
