"""The preflight: a wrong key, base URL or surface choice stops the run before any check, in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.cli import build_parser
from conformance.options import Options
from tests.conformance.harness import KEY, ROOT, free_port, mock_app, serve


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve(mock_app()) as url:
        yield url


def _judge(tmp_path: Path, *args: str, plugin: bool = False) -> subprocess.CompletedProcess[str]:
    head = (
        ["-m", "pytest", "-p", "conformance.plugin", "-p", "no:cacheprovider"]
        if plugin
        else ["-m", "conformance"]
    )
    return subprocess.run(
        [sys.executable, *head, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        timeout=60,
    )


def _one_clean_line(proc: subprocess.CompletedProcess[str], wanted: str) -> None:
    output = proc.stdout + proc.stderr
    assert wanted in output, output
    assert "_pytest.outcomes" not in output and "Traceback" not in output, output
    [line] = [line for line in output.splitlines() if wanted in line]
    assert line.startswith("chat-conformance: ") and "Exit:" not in output, output  # one line, its own
    assert " passed" not in output and " failed" not in output, "checks ran after the preflight stopped"


def test_wrong_key_stops_before_any_check(root: str, tmp_path: Path) -> None:
    proc = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", "not-the-key")
    assert proc.returncode == 6
    _one_clean_line(proc, f"the API key was refused (401 from GET {root}/v1/parameters)")


def test_wrong_key_stops_the_plugin_too(root: str, tmp_path: Path) -> None:
    proc = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", "nope", "-q", plugin=True)
    assert proc.returncode == 6
    _one_clean_line(proc, "the API key was refused (401")


def test_base_url_without_base_path_is_named(root: str, tmp_path: Path) -> None:
    proc = _judge(tmp_path, "--base-url", root, "--api-key", KEY)
    assert proc.returncode == 7
    _one_clean_line(
        proc,
        f"GET {root}/parameters answered 404: is the base URL right? "
        "It should end in the API's base path, e.g. /v1",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--base-url", "127.0.0.1:5001/v1"],
        ["--base-url", "http:///v1"],
        ["--base-url", "{root}/v1", "--chat-completions-url", "ftp://127.0.0.1/v1"],
        ["--base-url", "{root}/v1", "--conversational-url", "localhost"],
    ],
    ids=["no_scheme", "no_host", "ftp_completions", "bare_conversational"],
)
def test_malformed_urls_are_usage_errors(root: str, tmp_path: Path, args: list[str]) -> None:
    proc = _judge(tmp_path, *[a.format(root=root) for a in args], "--api-key", KEY)
    assert proc.returncode == 2
    _one_clean_line(proc, "is not an http(s) URL with a host")


def test_nothing_listening_is_one_line_and_still_reported(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    report, junit, results = tmp_path / "r.md", tmp_path / "j.xml", tmp_path / "res.json"
    proc = _judge(
        tmp_path,
        *("--base-url", url, "--api-key", KEY, "--report", str(report), "--junitxml", str(junit)),
        *("--results-json", str(results)),
    )
    assert proc.returncode == 3
    _one_clean_line(proc, f"nothing answers at {url}: Connection refused")
    assert "could not start**: nothing answers at" in report.read_text()
    assert 'errors="1"' in junit.read_text() and "the run could not start" in junit.read_text()
    assert "could not start" in results.read_text()


def test_only_an_area_whose_surface_is_missing_is_refused(root: str, tmp_path: Path) -> None:
    proc = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", KEY, "--only", "completions")
    assert proc.returncode == 2
    _one_clean_line(proc, "completions (no --chat-completions-url given)")
    assert "completions" not in Options(base_url="u", only="completions").effective_areas()


def test_report_header_names_the_surfaces_judged_and_not(root: str, tmp_path: Path) -> None:
    report = tmp_path / "r.md"
    proc = _judge(
        tmp_path,
        "--base-url",
        root + "/v1",
        "--api-key",
        KEY,
        "--only",
        "parameters",
        "--report",
        str(report),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = report.read_text()
    assert f"- **surfaces judged**: Chat App API ({root}/v1)" in text
    assert "conversational (no --conversational-url given)" in text
    assert "chat completions (no --chat-completions-url given)" in text


def test_help_documents_exit_codes_and_report_formats() -> None:
    text = build_parser().format_help()
    assert ".json for JSON" in " ".join(
        text.split("\n  --report REPORT")[1].split("--results-json")[0].split()
    )
    for code in ("0", "1", "2", "3", "6", "7"):
        assert f"\n  {code}  " in text


def test_an_unknown_operation_to_fuzz_is_a_usage_error(root: str, tmp_path: Path) -> None:
    """A typo in --fuzz-operations would fuzz nothing and read as a pass: it stops the run instead."""
    args = ("--base-url", root + "/v1", "--api-key", KEY, "--only", "fuzz", "--max-examples", "1")
    proc = _judge(tmp_path, *args, "--fuzz-operations", "listConversations,sendChatMesage")
    assert proc.returncode == 2
    _one_clean_line(proc, "--fuzz-operations names no operation of the current contract: sendChatMesage")
    proc = _judge(tmp_path, *args, "--era", "2023", "--fuzz-operations", "getAppInfo")
    assert proc.returncode == 2  # an operation of today's API only
    _one_clean_line(proc, "no operation of the 2023 contract: getAppInfo")
