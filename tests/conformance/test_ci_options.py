"""What a CI job needs of the suite: the key from the environment, a wait for a server still starting,
JUnit suites by area, and one clear line when the install lacks what a run asks for."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from conformance.options import API_KEY_ENV
from tests.conformance.harness import KEY, ROOT, free_port, mock_app, serve


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with serve(mock_app()) as url:
        yield url


def _judge(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, prelude: str = "", timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    """chat-conformance ARGS in a process of its own (after `prelude`, e.g. to hide a package)."""
    code = f"{prelude}\nfrom conformance.cli import main\nraise SystemExit(main({list(args)!r}))\n"
    base = {k: v for k, v in os.environ.items() if k != API_KEY_ENV}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**base, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=tmp_path,
        timeout=timeout,
    )


QUICK = ("--only", "parameters", "--request-timeout", "2", "--stream-timeout", "8")


def test_the_key_comes_from_the_environment_when_not_given(root: str, tmp_path: Path) -> None:
    proc = _judge(tmp_path, "--base-url", root + "/v1", *QUICK, env={API_KEY_ENV: KEY})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    refused = _judge(tmp_path, "--base-url", root + "/v1", *QUICK, env={API_KEY_ENV: "not-the-key"})
    assert refused.returncode == 6  # it is the key sent: a wrong one is refused as such
    # --api-key wins over the environment
    given = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", KEY, *QUICK, env={API_KEY_ENV: "x"})
    assert given.returncode == 0, given.stdout + given.stderr
    missing = _judge(tmp_path, "--base-url", root + "/v1", *QUICK)
    assert missing.returncode == 2 and f"--api-key (or ${API_KEY_ENV}) are required" in missing.stderr


def _late(port: int, delay_s: float, app: Any) -> threading.Thread:
    """Serve `app` on `port` after `delay_s` seconds, until the process ends (a server still starting)."""

    def run() -> None:
        time.sleep(delay_s)
        server = make_server("127.0.0.1", port, app, threaded=True)
        server.serve_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_wait_for_server_retries_until_the_server_listens(tmp_path: Path) -> None:
    port = free_port()
    _late(port, 2.0, mock_app())
    url = f"http://127.0.0.1:{port}/v1"
    proc = _judge(tmp_path, "--base-url", url, "--api-key", KEY, *QUICK, "--wait-for-server", "30")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_wait_for_server_waits_out_a_gateways_503(tmp_path: Path) -> None:
    mock = mock_app()
    opened = time.monotonic() + 2.0

    def gateway(environ: dict[str, Any], start_response: Any) -> Any:
        if time.monotonic() < opened:  # the upstream is still starting
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"upstream not ready"]
        return mock(environ, start_response)

    with serve(gateway) as url:
        proc = _judge(
            tmp_path, "--base-url", url + "/v1", "--api-key", KEY, *QUICK, "--wait-for-server", "30"
        )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.monotonic() >= opened


def test_wait_for_server_gives_up_when_the_time_is_up(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    proc = _judge(tmp_path, "--base-url", url, "--api-key", KEY, *QUICK, "--wait-for-server", "2")
    took = time.monotonic() - start
    assert proc.returncode == 3
    assert f"nothing answers at {url} (waited 2 s): Connection refused" in proc.stderr
    assert 2.0 <= took < 30
    # without it, the preflight does not retry
    assert _judge(tmp_path, "--base-url", url, "--api-key", KEY, *QUICK).returncode == 3


def test_load_waits_for_the_server_as_the_suite_does(tmp_path: Path) -> None:
    """`chat-conformance load --wait-for-server`: the same preflight, retried; here nothing ever listens."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    start = time.monotonic()
    proc = _judge(tmp_path, "load", "--base-url", url, "--api-key", KEY, "--wait-for-server", "2", "-q")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"chat-conformance load: nothing answers at {url} (waited 2 s)" in proc.stderr
    assert 2.0 <= time.monotonic() - start < 60


def test_junit_has_one_suite_per_area_and_classnames_by_area(root: str, tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    args = ("--only", "parameters,feedback", "--max-examples", "0", "--junitxml", str(junit))
    proc = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", KEY, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    top = ET.parse(junit).getroot()
    assert top.tag == "testsuites" and top.get("name") == "chat-conformance"
    suites = {s.get("name"): s for s in top.findall("testsuite")}
    assert set(suites) == {"chat-conformance.parameters", "chat-conformance.feedback"}
    total = 0
    for name, suite in suites.items():
        cases = suite.findall("testcase")
        assert cases and all(c.get("classname") == name for c in cases)
        assert int(suite.get("tests", "-1")) == len(cases)
        checks = [p.get("value") for c in cases for p in c.iter("property") if p.get("name") == "check"]
        assert checks and all(str(check).startswith(name.split(".")[1] + ".") for check in checks)
        total += len(cases)
    assert int(top.get("tests", "-1")) == total


def test_junit_of_a_failing_run_counts_its_failures_in_their_area(tmp_path: Path) -> None:
    from mock_server import create_app

    mock = create_app({"api_keys": [KEY]})

    def no_opening_statement(environ: dict[str, Any], start_response: Any) -> Any:
        if environ["PATH_INFO"] == "/v1/parameters":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"opening_statement": 42}']
        return mock(environ, start_response)

    junit = tmp_path / "j.xml"
    with serve(no_opening_statement) as url:
        proc = _judge(tmp_path, "--base-url", url + "/v1", "--api-key", KEY, *QUICK, "--junitxml", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [suite] = ET.parse(junit).getroot().findall("testsuite")
    assert suite.get("name") == "chat-conformance.parameters"
    failed = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert failed and int(suite.get("failures", "0")) == len(failed)


def test_fuzzing_without_schemathesis_is_refused_with_one_line(root: str, tmp_path: Path) -> None:
    hide = "import sys\nsys.modules['schemathesis'] = None\n"
    proc = _judge(tmp_path, "--base-url", root + "/v1", "--api-key", KEY, prelude=hide)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "the fuzz area needs schemathesis, which this install lacks: "
            "pip install 'chat-contract-kit[conformance]', or leave fuzzing out (--skip fuzz)"
        )
    ), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    args = ("--only", "parameters,fuzz", "--max-examples", "0")  # fuzzing turned off: nothing missing
    assert _judge(tmp_path, "--base-url", root + "/v1", "--api-key", KEY, *args, prelude=hide).returncode in (
        0,
        9,
    )


def test_load_without_locust_is_refused_with_one_line(tmp_path: Path) -> None:
    proc = _judge(
        tmp_path,
        "load",
        "--base-url",
        "http://127.0.0.1:9/v1",
        prelude="import sys\nsys.modules['locust'] = None\n",
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "chat-conformance: error: `chat-conformance load` needs Locust, which this install lacks: "
        "pip install 'chat-contract-kit[load]'\n"
    )


def test_help_names_load_and_the_key_variable() -> None:
    from conformance.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "chat-conformance load --help" in text
    assert "$CHAT_CONFORMANCE_API_KEY" in text and "--wait-for-server" in text and "--version" in text


def test_fuzzing_narrowed_to_named_operations(root: str) -> None:
    """--fuzz-operations fuzzes the operations it names and lists every other one as not fuzzed."""
    from tests.conformance.harness import run_suite

    named = {"listConversations", "renameConversation"}
    doc = run_suite(root, "fuzz", "--max-examples", "1", "--fuzz-operations", ",".join(sorted(named)))
    assert doc["exit_code"] == 0, doc["output"]
    judged = {r["subject"]: r for r in doc["results"] if r["check"] == "fuzz.operation"}
    assert {s for s, r in judged.items() if r["outcome"] == "passed"} == named
    others = [r for s, r in judged.items() if s not in named]
    assert len(others) > 20 and all(r["outcome"] == "skipped" for r in others)
    reasons = {r["message"] for r in others}
    assert "not fuzzed: --fuzz-operations names other operations" in reasons
