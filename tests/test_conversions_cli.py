"""`chat-pipeline`: readable sections, --json, payload from file/stdin, templates, replies and errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from payload_conversions.builtin_templates import SEED_REPLY
from payload_conversions.cli import main

CASES_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "conversions" / "pipeline_cases.json"
CASES = {c["name"]: c for c in json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_default_shows_the_seed_pipeline(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    seed = CASES["seed"]
    assert code == 0 and err == ""
    for title in (
        "Conversational payload",
        "Template (handlebars)",
        "Rendered template",
        "Chat completion request",
    ):
        assert f"== {title}" in out
    assert seed["templates"]["handlebars"]["rendered"].rstrip("\n") in out
    assert "Conversational response" not in out, "no reply given, so the pipeline stops at the request"


def test_json_output_with_reply_matches_the_golden_seed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "--reply", SEED_REPLY)
    seed = CASES["seed"]
    stages = json.loads(out)
    assert code == 0
    assert stages["rendered"] == seed["templates"]["handlebars"]["rendered"]
    assert stages["chat_completion_request"] == seed["chat_completion_request"]
    assert stages["conversational_response"] == seed["response"]
    assert stages["chat_completion_response"]["choices"][0]["message"]["content"] == SEED_REPLY


def test_fstring_form_renders_the_same_seed_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--json", "--form", "fstring")
    assert code == 0
    assert json.loads(out)["rendered"] == CASES["seed"]["templates"]["fstring"]["rendered"]


def _write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("name", ["newlines", "system-message", "special-characters", "truncated-answer"])
def test_payload_file_and_completion_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    case = CASES[name]
    argv = [_write(tmp_path, "payload.json", case["request"]), "--json"]
    argv += ["--completion", _write(tmp_path, "completion.json", case["chat_completion_response"])]
    if "system" in case:
        argv += ["--system", case["system"]]
    code, out, _ = run(capsys, *argv)
    stages = json.loads(out)
    assert code == 0
    assert stages["rendered"] == case["templates"]["handlebars"]["rendered"], (
        "a given payload uses the chat template"
    )
    assert stages["chat_completion_request"] == case["chat_completion_request"]
    assert stages["conversational_response"] == case["response"]


def test_payload_from_stdin_and_template_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps({"inputs": {"text": "Hi & bye"}})))
    template = _write(
        tmp_path,
        "t.txt",
        '<message role="system">\nShort answers.\n</message>\n<message role="user">\n{text}\n</message>\n',
    )
    code, out, _ = run(
        capsys, "-", "--form", "fstring", "--template", template, "--reply", "Bye.", "--model", "m-1"
    )
    assert code == 0
    assert "&amp;" in out.split("== Rendered template ==")[1].split("==")[0]
    request = json.loads(out.split("== Chat completion request ==\n")[1].split("\n\n==")[0])
    assert request == {
        "model": "m-1",
        "messages": [
            {"role": "system", "content": "Short answers."},
            {"role": "user", "content": "Hi & bye"},
        ],
    }
    assert '"generated_text": "Bye."' in out


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["-"], '{"inputs": {"text": "a", "past_user_inputs": ["x"]}}', "generated_responses"),
        (["-"], "{not json", "not valid JSON"),
        (["-"], '{"text": "a"}', "inputs"),
        (["--template", "/nonexistent/template.hbs"], "", "neither a built-in"),
        (["/nonexistent/payload.json"], "", "cannot read the payload"),
        (["--completion", "-"], '{"choices": []}', "choices"),
    ],
)
def test_errors_are_reported_with_exit_code_1(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    stdin: str,
    message: str | None,
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("chat-pipeline: error:") and message in err


def test_reply_and_completion_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--reply", "a", "--completion", "b.json"])
    assert info.value.code == 2


def test_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "payload_conversions", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["template_form"] == "handlebars"


def test_template_that_ignores_the_payload_history_is_noted(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed template hard-codes its first turn; with another payload the CLI says the two differ."""
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"inputs": {"text": "Hello"}}'))
    code, out, _ = run(capsys, "-", "--template", "seed")
    assert code == 0
    assert "== Notes ==\n- The rendered messages differ" in out
    code, out, _ = run(capsys)
    assert code == 0 and "== Notes ==" not in out, "the seed payload matches the seed template"
