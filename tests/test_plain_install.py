"""What a vendor installs is what the project tests: the wheel without extras, in a venv of its own.

`pip install chat-contract-kit` is the mock and the suite's checks, without the fuzzing and load
stacks. From it, a server answering `"created_at": "yesterday"` fails exactly as it does from the
development install (the suite's formats need no optional package), the mock starts and passes, and
a run that asks for fuzzing or load says which extra it needs.

The venv gets the built wheel and its declared dependencies from the package registries (pip's cache
keeps a second run quick); nothing of the development venv leaks in (no --system-site-packages).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.harness import KEY, mock_app, serve
from tests.conformance.rewrite import wrap
from tests.served import free_port
from tests.test_packaging import build_wheel, project_version

ROOT = Path(__file__).resolve().parent.parent
INSTALL_TIMEOUT_S = 600
EXTRAS_ONLY = ("schemathesis", "hypothesis", "locust", "zmq", "rfc3339_validator")


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin directory of a fresh venv holding `pip install chat-contract-kit` (the wheel, no extras)."""
    base = tmp_path_factory.mktemp("plain")
    wheel = build_wheel(base / "wheel")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # the development venv's pip installs into the new venv (pip --python): no pip bootstrap needed there
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
        + ["--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    return venv / "bin"


def _env(**extra: str) -> dict[str, str]:
    """The environment without anything that would import the checkout or the development venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "CHAT_CONFORMANCE_API_KEY")
    }
    return {**env, **extra}


def _run(
    plain: Path, tool: str, *args: str, cwd: Path, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(plain / tool), *args], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout
    )


def test_the_plain_install_has_no_fuzzing_or_load_stack(plain: Path, tmp_path: Path) -> None:
    probe = (
        "import importlib.util as u, importlib.metadata as m, sys\n"
        f"print([n for n in {EXTRAS_ONLY!r} if u.find_spec(n)])\n"
        "import conformance, mock_server; print(conformance.__file__); print(mock_server.__file__)\n"
        "print(len(list(m.distributions())))\n"
    )
    done = _run(plain, "python", "-c", probe, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found, suite, mock, count = done.stdout.splitlines()
    assert found == "[]"
    assert str(plain.parent) in suite and str(plain.parent) in mock  # the installed copy, not the checkout
    print(f"plain install: {count} distributions")  # the figure README states (-s shows it)


def test_every_cli_of_the_plain_install_prints_the_version(plain: Path, tmp_path: Path) -> None:
    for tool, prog in (
        ("chat-mock", "chat-mock"),
        ("chat-conformance", "chat-conformance"),
        ("chat-pipeline", "chat-pipeline"),
    ):
        done = _run(plain, tool, "--version", cwd=tmp_path)
        assert (done.returncode, done.stdout) == (0, f"{prog} {project_version()}\n"), done.stderr


def test_the_contracts_formats_are_asserted_in_the_plain_install(plain: Path, tmp_path: Path) -> None:
    probe = (
        "import jsonschema\n"
        "from conformance import contract, formats\n"
        "doc = contract.whole_document()\n"
        "used = set(formats.used_formats(doc))\n"
        "print(sorted(used), formats.unasserted(doc))\n"
        "print(sorted(used - set(jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers)))\n"
        "print(formats.FORMAT_CHECKER.conforms('yesterday', 'date-time'))\n"
    )
    done = _run(plain, "python", "-c", probe, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    used_and_unasserted, mock_misses, yesterday = done.stdout.splitlines()
    assert used_and_unasserted.endswith(" []") and "uuid" in used_and_unasserted
    assert mock_misses == "[]"  # the mock's request validation asserts them too
    assert yesterday == "False"


@pytest.fixture(scope="module")
def plain_mock(plain: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """chat-mock of the plain install (gunicorn + gevent, its worker's self-check), its base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("plain-mock") / "chat-mock.log"
    args = [
        "--port",
        str(port),
        "--api-key",
        KEY,
        "--ttft-ms",
        "0",
        "--token-interval-ms",
        "0",
        "--jitter-ms",
        "0",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(plain / "chat-mock"), *args],
            cwd=log.parent,
            env=_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text


def _judge(
    plain: Path, url: str, tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    results = tmp_path / "results.json"
    done = _run(
        plain,
        "chat-conformance",
        *("--base-url", url, "--api-key", KEY, "--results-json", str(results), "--wait-for-server", "60"),
        *("--request-timeout", "3", "--stream-timeout", "10", *args),
        cwd=tmp_path,
    )
    doc = json.loads(results.read_text()) if results.exists() else {"results": []}
    return done, doc


def test_the_plain_mock_passes_the_plain_suite(plain: Path, plain_mock: str, tmp_path: Path) -> None:
    done, doc = _judge(plain, plain_mock, tmp_path, "--only", "parameters,appinfo,feedback,history")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert doc["verdict"].startswith("PASS")


def _yesterday(app: Any) -> Any:
    """The end user's created_at as `yesterday`: a string, but no date-time."""

    def edit(env: Any, status: int, body: Any) -> tuple[int, Any]:
        if status == 200 and isinstance(body, dict) and "created_at" in body:
            body["created_at"] = "yesterday"
        return status, body

    return wrap(app, path=r"/v1/end-users/[^/]+$", method="GET", json_response=edit)


def test_a_broken_date_fails_from_the_plain_install(plain: Path, tmp_path: Path) -> None:
    with serve(_yesterday(mock_app())) as root:
        done, doc = _judge(plain, root + "/v1", tmp_path, "--only", "appinfo")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    failed = [r for r in doc["results"] if r["outcome"] == "failed"]
    assert failed and all(r["check"].startswith("appinfo.") for r in failed)
    said = json.dumps(failed)
    assert "created_at" in said and "yesterday" in said


def test_fuzzing_and_load_name_the_extra_they_need(plain: Path, plain_mock: str, tmp_path: Path) -> None:
    fuzz = _run(plain, "chat-conformance", "--base-url", plain_mock, "--api-key", KEY, cwd=tmp_path)
    assert fuzz.returncode == 2
    assert "pip install 'chat-contract-kit[conformance]', or leave fuzzing out (--skip fuzz)" in fuzz.stderr
    load = _run(plain, "chat-conformance", "load", "--base-url", plain_mock, "--api-key", KEY, cwd=tmp_path)
    assert load.returncode == 2 and "pip install 'chat-contract-kit[load]'" in load.stderr


def test_the_plugin_in_a_checkout_warns_of_no_unknown_option(plain: Path, plain_mock: str) -> None:
    """`pytest -p conformance.plugin` where the checkout's pyproject.toml sets pytest-timeout's
    `timeout`, from an install without pytest-timeout."""
    done = subprocess.run(
        [str(plain / "python"), "-m", "pytest", "-p", "conformance.plugin", "-p", "no:cacheprovider"]
        + ["--base-url", plain_mock, "--api-key", KEY, "--only", "parameters", "-q"],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Unknown config option" not in done.stdout + done.stderr
