"""`chat-mock` / `python -m mock_server`: flags, and a real gunicorn + gevent server with two workers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mock_server.cli import build_parser, config_from_args, describe_keys
from tests.mock.conftest import AUTH
from tests.mock.contract_check import checked_session
from tests.served import free_port, served_mock

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_realistic_for_people(monkeypatch) -> None:
    monkeypatch.delenv("CHAT_MOCK_API_KEYS", raising=False)
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.workers, args.dev) == ("127.0.0.1", 5001, 1, False)
    cfg = config_from_args(args)
    assert cfg.api_keys == []  # no key given: the apps' own keys, one app of each mode
    assert describe_keys(cfg).split(",") == [
        "app-mock-dev-key=chat(chat)",
        "app-mock-agent-key=agent(agent-chat)",
        "app-mock-chatflow-key=chatflow(advanced-chat)",
        "app-mock-other-key=other(chat)",  # a second chat app, for chat-conformance --other-app-key
        "app-mock-voice-key=voice(chat)",
    ]
    assert (cfg.ttft_ms, cfg.token_interval_ms, cfg.ping_interval_s) == (300.0, 30.0, 10.0)
    assert args.worker_connections >= 1000


def test_keys_from_flags_or_env(monkeypatch) -> None:
    monkeypatch.setenv("CHAT_MOCK_API_KEYS", "app-a,app-b")
    assert config_from_args(build_parser().parse_args([])).api_keys == ["app-a", "app-b"]
    args = build_parser().parse_args(["--api-key", "app-x", "--api-key", "app-y"])
    assert config_from_args(args).api_keys == ["app-x", "app-y"]


def _left_behind(store: str) -> list[str]:
    """The store file and every companion of it still on disk (-wal, -shm, -faults, -writer...)."""
    return sorted(str(p) for p in Path(store).parent.glob(Path(store).name + "*"))


@pytest.fixture
def gunicorn_server(tmp_path) -> Iterator[str]:
    args = ("--workers", "2", "--ttft-ms", "0", "--token-interval-ms", "20", "--jitter-ms", "0")
    with served_mock(*args, "--log-level", "warning", cwd=tmp_path) as served:
        yield served.url
    assert "Traceback" not in served.output, served.output
    line = next(line for line in served.output.splitlines() if "store=" in line)
    store = line.split("store=")[1].strip()
    assert _left_behind(store) == []  # the private temp store and its companions are removed on exit


def test_gunicorn_server_two_workers_share_state_and_stop(gunicorn_server: str) -> None:
    base = gunicorn_server
    http = checked_session()
    pids = {requests.get(f"{base}/_mock/health", timeout=5).json()["pid"] for _ in range(20)}
    made = http.post(
        f"{base}/v1/chat-messages",
        headers=AUTH,
        timeout=10,
        json={"inputs": {"book": "b"}, "query": "hello", "user": "g1"},
    ).json()
    for _ in range(6):  # whichever worker answers, it sees the same conversations
        convs = http.get(f"{base}/v1/conversations?user=g1", headers=AUTH, timeout=5).json()["data"]
        assert [c["id"] for c in convs] == [made["conversation_id"]]

    raw = requests.post(
        f"{base}/v1/chat-messages",
        headers=AUTH,
        stream=True,
        timeout=10,
        json={
            "inputs": {"book": "b"},
            "query": "Tell me the plot of Die Hard",
            "user": "g1",
            "response_mode": "streaming",
        },
    )
    lines = raw.iter_lines(decode_unicode=True)
    first = json.loads(next(line for line in lines if line.startswith("data: "))[6:])
    for _ in range(4):  # stop from several connections: some land on the other worker
        stop = http.post(
            f"{base}/v1/chat-messages/{first['task_id']}/stop", headers=AUTH, timeout=5, json={"user": "g1"}
        )
        assert stop.json() == {"result": "success"}
    rest = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert rest[-1]["event"] == "message_end"
    assert len(rest) < 60
    assert len(pids) >= 1


def test_gunicorn_writes_one_frame_per_chunk_as_paced(gunicorn_server: str) -> None:
    """Raw HTTP: every chunk of the chunked body is exactly one whole SSE frame, and chunks arrive
    spread over time at the token interval (nothing is buffered until the end)."""
    port = int(gunicorn_server.rsplit(":", 1)[1])
    body = json.dumps(
        {
            "inputs": {"book": "b"},
            "query": "Who directed Die Hard?",
            "user": "raw",
            "response_mode": "streaming",
        }
    ).encode()
    request = (
        f"POST /v1/chat-messages HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    arrivals, raw = [], b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request.encode() + body)
        while chunk := sock.recv(65536):
            arrivals.append(time.monotonic())
            raw += chunk
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    frames = []
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        n = int(size, 16)
        if n == 0:
            break
        frames.append(rest[:n])
        rest = rest[n + 2 :]
    assert len(frames) == 7  # 6 pieces + message_end
    for frame in frames:
        assert frame.startswith(b"data: {") and frame.endswith(b"}\n\n") and frame.count(b"\n\n") == 1
    assert arrivals[-1] - arrivals[0] >= 0.08  # 20 ms apart: 5 intervals, not one burst


# ---------- inputs checked before serving; the temp store removed on SIGTERM ----------


@pytest.fixture
def no_serving(monkeypatch) -> None:
    """main() must answer before it starts any server; fail at once (never serve) if it does not."""

    def refuse(*args, **kwargs):
        raise AssertionError("main() started a server")

    monkeypatch.setattr("mock_server.cli._serve_gunicorn", refuse)
    monkeypatch.setattr("flask.Flask.run", refuse)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--contract", "/nonexistent.yaml", "--contract /nonexistent.yaml: no such file"),
        ("--fixtures", "/nonexistent", "--fixtures /nonexistent: no such directory"),
    ],
)
def test_missing_contract_or_fixtures_is_a_one_line_error(no_serving, capsys, flag, value, says) -> None:
    from mock_server.cli import main

    assert main([flag, value, "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err == f"chat-mock: error: {says}\n"


def test_unreadable_contract_and_invalid_fixtures_are_one_line_errors(no_serving, capsys, tmp_path) -> None:
    from mock_server.cli import main

    (tmp_path / "broken.yaml").write_text("paths: [", encoding="utf-8")
    assert main(["--contract", str(tmp_path / "broken.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"chat-mock: error: --contract {tmp_path / 'broken.yaml'}: cannot be read: ")
    assert err.count("\n") == 1
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    users = "users:\n- user: x\n  conversations:\n  - id: nope\n"
    (fixtures / "users.yaml").write_text(users, encoding="utf-8")
    assert main(["--fixtures", str(fixtures)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"chat-mock: error: --fixtures {fixtures}: users.yaml: users[0].conversations[0].id: "
        "'nope' is not a 'uuid' (not a valid Conversation)\n"
    )


def test_a_missing_contract_does_not_reach_gunicorn(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mock_server", "--contract", "/nonexistent.yaml", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr == "chat-mock: error: --contract /nonexistent.yaml: no such file\n"


def test_dev_server_removes_its_temp_store_on_sigterm(tmp_path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "--dev", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        store = line.split("store=")[1].strip()
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/_mock/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        requests.post(
            f"http://127.0.0.1:{port}/v1/chat-messages",
            headers=AUTH,
            json={"inputs": {"book": "b"}, "query": "hello", "user": "dev"},
            timeout=10,
        )
        assert Path(store).exists()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=15)[1]
    assert "Traceback" not in out, out
    assert _left_behind(store) == []


def test_create_app_temp_store_goes_with_the_app() -> None:
    import gc

    from mock_server import create_app

    app = create_app()
    store = app.extensions["chat_mock"].db_path
    assert Path(store).exists()
    del app
    gc.collect()
    assert _left_behind(store) == []


# ---------- start-up: what it says, and what stops it before it says it is serving ----------


def _run_mock(*args: str, prelude: str = "", cwd: Path) -> subprocess.CompletedProcess[str]:
    """`chat-mock ARGS` in a process of its own, after running `prelude` (e.g. to break gunicorn)."""
    code = f"{prelude}\nfrom mock_server.cli import main\nraise SystemExit(main({list(args)!r}))\n"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("prelude", "named"),
    [
        ("import gunicorn.util as u\ndel u.http_date", "gunicorn.util.http_date"),
        ("import gunicorn.workers.ggevent as g\ndel g.StreamServer", "gunicorn.ggevent.StreamServer"),
        ("import gunicorn.http.wsgi as w\ndel w.WSGIErrorsWrapper", "gunicorn.http.wsgi.WSGIErrorsWrapper"),
    ],
)
def test_a_gunicorn_without_a_name_the_worker_patches_stops_chat_mock_with_one_line(
    tmp_path, prelude, named
) -> None:
    done = _run_mock("--port", str(free_port()), prelude=prelude, cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.splitlines()  # one line: no start-up line, no traceback
    assert line.startswith(f"chat-mock: error: gunicorn {_installed('gunicorn')} lacks {named}, ")
    assert "install the gunicorn the kit supports: pip install 'gunicorn" in line


def test_the_installed_gunicorn_has_every_name_the_worker_patches() -> None:
    from mock_server import worker

    assert worker.missing_gunicorn_names() == []


def _installed(dist: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(dist)


def test_a_busy_port_is_one_error_line_before_any_serving_line(tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for dev in ([], ["--dev"]):
            done = _run_mock("--port", str(port), *dev, cwd=tmp_path)
            assert done.returncode == 2
            said = f"chat-mock: error: cannot listen on 127.0.0.1:{port}: Address already in use\n"
            assert done.stderr == said


def test_the_2023_start_up_line_lists_keys_without_modes(monkeypatch) -> None:
    monkeypatch.delenv("CHAT_MOCK_API_KEYS", raising=False)
    described = describe_keys(config_from_args(build_parser().parse_args(["--era", "2023"])))
    keys, note = described.split(" ", 1)
    assert keys.split(",")[:3] == ["app-mock-dev-key", "app-mock-agent-key", "app-mock-chatflow-key"]
    assert "agent-chat" not in described and "advanced-chat" not in described
    assert note == "(the 2023 era has no app modes: every key is the chat app)"


def test_gunicorn_says_where_it_listens(tmp_path) -> None:
    with served_mock("--log-level", "info", cwd=tmp_path) as served:
        pass
    listening = [line for line in served.output.splitlines() if "Listening at:" in line]
    assert listening and all(f"Listening at: {served.url} (" in line for line in listening), listening
