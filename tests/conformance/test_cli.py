"""The CLI and the plugin: options, reports, budget, cleanup, exit codes; one code path."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conformance.cli import build_parser, pytest_args
from conformance.data import contract_path
from conformance.htmlreport import curl_line
from conformance.options import Options
from conformance.results import Record, Results
from tests.conformance.gallery import BROKEN
from tests.conformance.harness import KEY, ROOT, mock_app, outcomes, run_suite, serve


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve(mock_app()) as url:
        yield url


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_cli_translates_every_option_to_the_plugin() -> None:
    ns = build_parser().parse_args(
        [
            "--base-url",
            "http://x/v1",
            "--api-key",
            "k",
            "--timeout",
            "3",
            "--only",
            "chat",
            "--max-chat-calls",
            "2",
            "--junitxml",
            "j.xml",
        ]
    )
    args = pytest_args(ns, ["-x"])
    for pair in (
        ["--base-url", "http://x/v1"],
        ["--request-timeout", "3.0"],
        ["--only", "chat"],
        ["--max-chat-calls", "2"],
        ["--junitxml", "j.xml"],
    ):
        i = args.index(pair[0])
        assert args[i : i + 2] == pair
    assert args[:2] == ["-p", "conformance.plugin"] and args[-1] == "-x"


def test_unknown_area_is_a_usage_error(root: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "conformance",
            "--base-url",
            root + "/v1",
            "--api-key",
            KEY,
            "--only",
            "chatt",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 2  # the suite's usage errors are all exit status 2
    assert "unknown area(s): chatt" in proc.stderr + proc.stdout


def test_missing_base_url_is_refused(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "--api-key", KEY],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 2 and "--base-url" in proc.stderr


def test_reports_junit_and_exit_code(root: str, tmp_path: Path) -> None:
    md, html, junit = tmp_path / "r.md", tmp_path / "r.html", tmp_path / "j.xml"
    doc = run_suite(root, "parameters,feedback", "--report", str(md), "--junitxml", str(junit))
    run_suite(root, "parameters", "--report", str(html))
    assert doc["exit_code"] == 0
    text = md.read_text()
    assert (
        "| feedback | 100% |" in text and "## Failures (MUST): 0" in text and "## Warnings (SHOULD)" in text
    )
    assert "<table>" in html.read_text() and "parameters" in html.read_text()
    assert "feedback" in junit.read_text() and 'failures="0"' in junit.read_text()


def test_budget_skips_with_a_reason(root: str) -> None:
    doc = run_suite(root, "history,feedback", "--max-chat-calls", "2")
    skipped = [r for r in doc["results"] if r["outcome"] == "skipped"]
    assert skipped and all("budget" in r["message"] for r in skipped)
    assert doc["meta"]["chat calls spent"] <= 2
    assert "passed" in outcomes(doc, "feedback.like")  # one answer was enough for feedback
    assert doc["exit_code"] == 0


def test_run_deletes_what_it_created(root: str) -> None:
    doc = run_suite(root, "history,conversations,lifecycle", "--user-prefix", "cleanup-check")
    run_id = doc["meta"]["run id"]
    assert doc["meta"]["conversations created and deleted"] >= 7
    for label in ("history", "convs", "rename", "delete"):
        user = f"cleanup-check-{run_id}-{label}"
        page = requests.get(
            root + "/v1/conversations",
            params={"user": user, "limit": 100},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=5,
        ).json()
        assert page["data"] == [], f"{user} still owns {len(page['data'])} conversation(s)"


def test_plugin_mode_is_the_same_code_path(root: str, tmp_path: Path) -> None:
    results = tmp_path / "res.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conformance.plugin",
            "-p",
            "no:cacheprovider",
            "--base-url",
            root + "/v1",
            "--api-key",
            KEY,
            "--only",
            "parameters",
            "--results-json",
            str(results),
            "-q",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "parameters.shape" in results.read_text()
    assert "chat conformance: score per area" in proc.stdout


def test_should_findings_are_warnings_not_failures() -> None:
    results = Results(
        [
            Record("a.x", "a", "t", "SHOULD", "warning", message="meh"),
            Record("a.y", "a", "t", "MUST", "passed"),
            Record("a.z", "a", "t", "MUST", "failed"),
        ]
    )
    md = results.markdown()
    assert "## Warnings (SHOULD): 1" in md and "## Failures (MUST): 1" in md
    assert results.score(results.by_area()["a"]) == pytest.approx(1 / 2)  # MUST checks only


def test_areas_need_their_surface() -> None:
    opts = Options(base_url="http://x/v1")
    assert "conversational" not in opts.effective_areas() and "chat" in opts.effective_areas()
    named = Options(base_url="u", only="conversational,chat")
    assert "conversational" not in named.effective_areas()
    assert named.unjudgeable_named_areas() == ["conversational (no --conversational-url given)"]
    assert (
        Options(base_url="u", conversational_url="c", only="conversational").unjudgeable_named_areas() == []
    )
    with pytest.raises(ValueError):
        Options(only="nope").areas()


def test_nothing_listening_is_a_clear_error(tmp_path: Path) -> None:
    from tests.conformance.harness import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance", "--base-url", url, "--api-key", KEY],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
        timeout=60,
    )
    assert proc.returncode == 3
    assert f"nothing answers at {url}" in proc.stdout + proc.stderr


def test_pyargs_form_of_the_plugin(root: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "conformance.plugin",
            "--pyargs",
            "conformance.checks",
            "-p",
            "no:cacheprovider",
            "--base-url",
            root + "/v1",
            "--api-key",
            KEY,
            "--only",
            "parameters",
            "-q",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "2 passed" in proc.stdout


CURSOR_IGNORED = next(v for v in BROKEN if v.name == "cursor_ignored")


def test_the_terminal_leads_with_the_run_and_its_causes(tmp_path: Path) -> None:
    """A start line (server, era, contract hash, areas), a line per area as it finishes, then the causes
    with one line per failed check, the scores and the verdict; no dots, no block per failure that
    repeats the evidence (that is in the files, or with -v)."""
    with serve(CURSOR_IGNORED.make(mock_app())) as server:
        doc = run_suite(server, "chat,history,isolation", "--report", str(tmp_path / "r.html"))
        verbose = subprocess.run(
            [sys.executable, "-m", "conformance", "--base-url", server + "/v1", "--api-key", KEY, "-v",
             "--only", "history", "--request-timeout", "2", "--max-examples", "0"],
            capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120,
        )  # fmt: skip
    lines = doc["output"].splitlines()
    digest = hashlib.sha256(contract_path().read_bytes()).hexdigest()[:12]
    start = f"chat-conformance: judging {server}/v1, era current, contract sha256 {digest}"
    assert lines[0].startswith(start), doc["output"]
    assert lines[0].endswith("3 areas: chat, history, isolation")
    areas = [line.split()[0] for line in lines if line.startswith("  ") and " score " in line]
    assert areas == ["chat", "history", "isolation"]  # one line each, as each finishes
    assert not any(set(line) <= set(".sFx") and line for line in lines), "a line of dots"
    assert "FAILURES" not in doc["output"] and "short test summary" not in doc["output"]
    causes, scores = (
        lines.index(next(x for x in lines if "failures by root cause" in x)),
        lines.index(next(x for x in lines if "score per area" in x)),
    )
    assert causes < scores < lines.index(next(x for x in lines if x.startswith("verdict: FAIL")))
    failed = [r for r in doc["results"] if r["outcome"] == "failed"]
    entries = [line for line in lines[causes:scores] if line.startswith("     history.")]
    assert len(entries) == len(failed) == 16  # one line per failed check, under its cause
    assert f"is in {tmp_path / 'r.html'}, " in doc["output"] and ", or run with -v" in doc["output"]
    assert len(lines) < len(failed) + 30
    assert "FAILURES" in verbose.stdout and "answer: 200 application/json" in verbose.stdout  # -v: all of it
    assert "test_history.py::test_complete[1] FAILED" in verbose.stdout  # and every check is listed


def test_no_placeholder_skips(root: str) -> None:
    """isolation.owned is a check of the operations it judges only: the app's own data and the
    operations a dedicated check judges are no skipped checks of it."""
    doc = run_suite(root, "isolation")
    owned = [r for r in doc["results"] if r["check"] == "isolation.owned"]
    assert sorted(r["subject"] for r in owned) == [
        "getSuggestedQuestions", "listConversationVariables", "updateConversationVariable"
    ]  # fmt: skip
    skips = [r for r in doc["results"] if r["outcome"] == "skipped"]
    skipped = {f"{r['check']}[{r['subject']}]": r["message"] for r in skips}
    assert {r["subject"]: r["outcome"] for r in owned if r["outcome"] != "skipped"} == {
        "getSuggestedQuestions": "passed", "listConversationVariables": "passed"
    }  # fmt: skip
    # what is left skipped says something about this server and run: an app without variables, and
    # the checks of another app's key, not requested here
    assert skipped.pop("isolation.owned[updateConversationVariable]").endswith("(the app has none)")
    assert {name.split("[")[0] for name in skipped} == {"isolation.other_app"}


def test_keep_leaves_the_data_so_the_evidence_replays(tmp_path: Path) -> None:
    """The curl line of a failure replays to the answer the report shows with --keep; without it the
    run deleted the conversation, the replay differs, and the report said so."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    with serve(CURSOR_IGNORED.make(mock_app())) as server:
        replays = {}
        for keep in (True, False):
            report = tmp_path / f"keep-{keep}.html"
            doc = run_suite(server, "history", "--report", str(report), *(["--keep"] if keep else []))
            unknown = next(r for r in doc["results"] if r["check"] == "history.unknown_first_id")
            request, answer = unknown["evidence"][0].splitlines()[:2]
            shown = json.loads(answer[answer.index("{") :])  # `  answer: 200 application/json {...}`
            env = {**os.environ, "API_KEY": KEY}
            curl = ["bash", "-c", curl_line(request)]
            replay = subprocess.run(curl, capture_output=True, text=True, env=env, timeout=30)
            replays[keep] = json.loads(replay.stdout) == shown
            said = report.read_text()
            if keep:
                assert "replay against the same data" in said
                assert "data left on the server (--keep)" in doc["meta"]
            else:
                assert "run with --keep to leave the data for a replay" in said
                assert doc["meta"]["conversations created and deleted"] >= 1
    assert replays == {True: True, False: False}


def test_help_names_the_load_mode() -> None:
    assert "chat-conformance load --help" in " ".join(build_parser().format_help().split())
