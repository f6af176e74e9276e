"""`chat-pipeline`: readable sections, --json, payload from file/stdin, templates, replies and errors."""

from __future__ import annotations

import io
import json
import shlex
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
        (["-", "--completion", "-"], '{"inputs": {"text": "a"}}', "cannot both be read from stdin"),
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


# ---------------------------------------------------------------- --completion: object, chunk list, SSE

STREAMS = Path(__file__).resolve().parent.parent / "fixtures" / "streams"
DIE_HARD = {"inputs": {"text": "Which movie is the best?"}}


def _sse() -> str:
    return (STREAMS / "die-hard.completions.sse").read_text(encoding="utf-8")


def _chunk_list() -> str:
    frames = [f for f in _sse().split("\n\n") if f.startswith("data: {")]
    return json.dumps([json.loads(f.removeprefix("data: ")) for f in frames])


def _sse_with_extras() -> str:
    """The golden stream with a comment, an event-only frame, other fields, CRLF and no final blank line."""
    frames = _sse().rstrip("\n").split("\n\n")
    extras = [": keep-alive", "event: ping", "id: 3\nretry: 100\n" + frames[2]]
    return "\r\n\r\n".join([frames[0], frames[1], *extras, *frames[3:]]).replace("\n\n", "\r\n\r\n")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("blocking", (STREAMS / "die-hard.completions.json").read_text(encoding="utf-8")),
        ("sse", _sse()),
        ("sse-usage", (STREAMS / "die-hard.completions-usage.sse").read_text(encoding="utf-8")),
        ("sse-crlf", _sse().replace("\n", "\r\n")),
        ("sse-extras", _sse_with_extras()),
        ("chunk-list", _chunk_list()),
    ],
)
def test_completion_file_in_every_form(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, text: str
) -> None:
    argv = [_write(tmp_path, "p.json", DIE_HARD), "--completion", _write(tmp_path, "c.txt", text)]
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0 and err == ""
    response = json.loads(out)["conversational_response"]
    assert response["generated_text"] == "It's Die Hard for sure."
    assert response["conversation"]["generated_responses"] == ["It's Die Hard for sure."]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    streamed = "== Chat completion response (streamed, " in out
    assert streamed == (name != "blocking"), "a stream is shown as its chunks, one per line"


def test_completion_stream_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(_sse()))
    code, out, _ = run(capsys, "--completion", "-", "--json")
    assert code == 0
    stages = json.loads(out)
    assert stages["chat_completion_response"][-1] == "[DONE]"
    assert stages["conversational_response"]["generated_text"] == "It's Die Hard for sure."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a chat completion object, a JSON list of stream chunks, or an SSE stream"),
        ("It's Die Hard for sure.", "expected a chat completion object"),
        ("{not json", "not valid JSON"),
        ("[]", "empty list"),
        ('["a", "b"]', "chunks[0]: must be a chat completion chunk object"),
        ('[{"object": "chat.completion.chunk", "choices": 5}]', "chunks[0].choices: must be a list"),
        ('{"object": "chat.completion.chunk", "choices": []}', "single stream chunk"),
        ("data: {not json}\n\n", "SSE event 1 is not valid JSON"),
        ("data: [DONE]\n\n", "finish_reason"),
        (
            "\n\n".join(_sse().split("\n\n")[:3]) + "\n\n",
            "the stream ended before a chunk carried a finish_reason",
        ),
        ((STREAMS / "die-hard.chat.sse").read_text(encoding="utf-8"), "must be 'chat.completion.chunk'"),
        ('{"error": {"message": "rate limited"}}', "the chat completion failed"),
    ],
)
def test_bad_completion_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, message: str
) -> None:
    argv = [_write(tmp_path, "p.json", DIE_HARD), "--completion", _write(tmp_path, "c.txt", text)]
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("chat-pipeline: error:") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_completion_that_is_not_utf8_is_one_error_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "c.bin").write_bytes(b"\xff\xfe\x00data")
    code, out, err = run(
        capsys, _write(tmp_path, "p.json", DIE_HARD), "--completion", str(tmp_path / "c.bin")
    )
    assert code == 1 and out == ""
    assert err.startswith("chat-pipeline: error: cannot read the chat completion")


def test_bad_stream_fails_the_cli_without_traceback(tmp_path: Path) -> None:
    """The review's crash: a chunk list given to --completion, run as users run it."""
    argv = [_write(tmp_path, "p.json", DIE_HARD), "--completion", _write(tmp_path, "c.json", '[{"x": 1}]')]
    result = subprocess.run(
        [sys.executable, "-m", "payload_conversions", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == "chat-pipeline: error: chunks[0].object: must be 'chat.completion.chunk'\n"


# ---------------------------------------------------------------- --system with every template


def test_fstring_chat_template_takes_the_system_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys,
        _write(tmp_path, "p.json", {"inputs": {"text": "Hi"}}),
        "--form",
        "fstring",
        "--system",
        "Be brief",
        "--json",
    )
    stages = json.loads(out)
    assert code == 0
    assert stages["chat_completion_request"]["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert "{system}" in stages["template"] and "notes" not in stages


@pytest.mark.parametrize("form", ["handlebars", "fstring"])
def test_seed_template_says_system_was_ignored(capsys: pytest.CaptureFixture[str], form: str) -> None:
    code, out, _ = run(capsys, "--form", form, "--system", "Be brief")
    assert code == 0
    assert out.endswith(
        "== Notes ==\n- The system message (--system) was ignored: this template has no `system` variable "
        "(the built-in `chat` template has one).\n"
    ), "the seed payload matches the seed template, so that is the only note"


# ---------------------------------------------------------------- the README's examples print what it shows

README = Path(__file__).resolve().parent.parent / "README.md"


def _readme_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Payload pipeline")[1].split("\n## ")[0]
    return [block.split("\n", 1)[1] for block in section.split("```")[1::2]]


def test_readme_example_prints_what_the_readme_shows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = _readme_blocks()
    command = next(b for b in blocks if "| chat-pipeline -" in b)
    echo, pipeline = command.replace("\\\n", "").split("| chat-pipeline")
    monkeypatch.setattr(sys, "stdin", io.StringIO(shlex.split(echo)[1]))
    code, out, _ = run(capsys, *shlex.split(pipeline))
    assert code == 0
    shown = blocks[blocks.index(command) + 1]
    for section in shown.split("\n\n=="):
        assert section.strip("\n") in out, section


def test_readme_stream_example_prints_what_the_readme_shows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(README.parent)
    command = next(b for b in _readme_blocks() if "--completion fixtures/streams" in b)
    argv = shlex.split(command.split("chat-pipeline ")[1].split("|")[0].replace("\\\n", ""))
    assert argv[0] == "payload.json"
    argv[0] = _write(tmp_path, "payload.json", json.loads(shlex.split(command.split(" > ")[0])[1]))
    code, out, _ = run(capsys, *argv)
    assert json.loads(out)["conversational_response"]["generated_text"] == "It's Die Hard for sure."
    readme = README.read_text(encoding="utf-8")
    code, out, _ = run(capsys, *argv[:-1])
    heading = next(line for line in out.splitlines() if "(streamed," in line)
    assert f"under `{heading}`" in readme.replace("\n", " ")
