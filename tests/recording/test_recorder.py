"""`chat-mock record` as a proxy: transparent, keeps no credential, follows no redirect, bounds what
it keeps, and survives being killed (the exchanges written before are whole).

The upstream is a real mock process on a loopback port; the recorder a real `chat-mock record`
process; a fake upstream (a WSGI function on a loopback port) plays the redirecting server.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mock_server import create_app
from mock_server.recording import layout
from tests.conformance.harness import serve
from tests.recording.harness import INPUTS, chat, recorder
from tests.served import ROOT, Served, free_port, served_mock

KEY = "app-mock-dev-key"
LONG = "Tell me the plot of Die Hard"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Served]:
    with served_mock("--ttft-ms", "40", "--token-interval-ms", "15", "--jitter-ms", "0") as served:
        yield served


def _text_files(directory: Path) -> dict[Path, str]:
    return {
        p: p.read_text(encoding="utf-8")
        for p in directory.rglob("*")
        if p.is_file() and p.suffix in {".yaml", ".tmp", ""}
    }


def _wait_for_files(directory: Path, count: int, timeout: float = 10.0) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = layout.exchange_files(directory)
        if len(files) >= count:
            return files
        time.sleep(0.05)
    return layout.exchange_files(directory)


def test_no_credential_lands_in_a_recording(upstream: Served, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    secrets = {
        "cookie": "cookie-s3cr3t-value",
        "header": "hdr-s3cr3t-value",
        "url token": "tkn-s3cr3t-value",
        "other key": "app-other-s3cr3t",
        "user": "alice@example.com",
    }
    sneaky = {"Cookie": f"session={secrets['cookie']}", "X-Api-Key": secrets["header"]}
    remote = f"https://example.com/still.png?sign=abc&token={secrets['url token']}&size=big"
    with recorder(upstream.url, KEY, out, "--anonymize-users") as rec:
        for key in (KEY, "app-recorded-rec"):  # the real key, and the replay key the recorder swaps for it
            poster = chat(rec.url, key, "Show me the Die Hard poster", user=secrets["user"], headers=sneaky)
            assert poster.status == 200 and "message_file" in poster.types
        answer = chat(
            rec.url,
            KEY,
            "What is on this poster?",
            user=secrets["user"],
            headers=sneaky,
            files=[{"type": "image", "transfer_method": "remote_url", "url": remote}],
        )
        assert answer.status == 200
        refused = chat(rec.url, secrets["other key"], "hello", user=secrets["user"])
        assert refused.status == 401  # another key is sent upstream as it came, and judged there
        flow = chat(rec.url, KEY, "Which movie is the best?", user=secrets["user"])
        assert flow.status == 200
    assert rec.proc.returncode == 0
    texts = _text_files(out)
    assert len(layout.exchange_files(out)) == 5
    everything = "\n".join(texts.values())
    for secret in [KEY, "Bearer", *secrets.values()]:
        assert secret not in everything, secret
    assert not re.search(r"[?&](sign|nonce|timestamp|token)=", everything)
    assert "size=big" in everything  # what is not a credential stays
    first = yaml.safe_load(layout.exchange_files(out)[0].read_text(encoding="utf-8"))
    anonymous = first["request"]["body"]["user"]
    assert re.fullmatch(r"user-[0-9a-f]{8}", anonymous)
    assert all(anonymous in text for path, text in texts.items() if path.parent.name == "exchanges")
    # the recording is still a servable app, its file bytes kept
    app = create_app({"app_dirs": [str(out)], "replay_speed": 0})
    recording = app.extensions["chat_mock"].apps.by_key["app-recorded-rec"].recording
    assert recording.problems == [] and len(recording.exchanges) == 5
    assert any(e.files for e in recording.exchanges)


def test_the_recorder_is_transparent(upstream: Served, tmp_path: Path) -> None:
    """Status, headers and bodies of every kind of answer pass unchanged; only the recorder's HTTP
    server's own Date and Server replace the upstream's."""
    headers = {"Authorization": f"Bearer {KEY}"}
    chat_body = {"inputs": INPUTS, "query": "hi", "user": "u"}
    preflight = {"Origin": "http://ui", "Access-Control-Request-Method": "POST"}
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/conversations?user=abc-123&limit=2", {}),
        ("GET", "/conversations/00000000-0000-0000-0000-000000000000/variables?user=abc-123", {}),
        ("POST", "/chat-messages", {"json": chat_body, "headers": {"X-Extra": "1"}}),
        ("GET", "/parameters", {"headers": {"Authorization": "Bearer wrong"}}),
        ("OPTIONS", "/chat-messages", {"headers": preflight}),
    ]
    with recorder(upstream.url, KEY, tmp_path / "rec") as rec:
        for method, path, extra in calls:
            kwargs = {**extra, "headers": {**headers, **extra.get("headers", {})}}
            direct = requests.request(method, f"{upstream.url}/v1{path}", **kwargs)
            proxied = requests.request(method, f"{rec.url}{path}", **kwargs)
            assert proxied.status_code == direct.status_code, path
            assert proxied.content == direct.content or path == "/chat-messages", path
            for name, value in direct.headers.items():
                drawn = {"content-length"} if path == "/chat-messages" else set()  # fresh ids, times
                if name.lower() not in {"date", "server", "connection", "keep-alive", *drawn}:
                    assert proxied.headers.get(name) == value, (path, name)
        with open(ROOT / "fixtures" / "apps" / "files" / "die-hard-poster.png", "rb") as poster:
            upload = requests.post(
                f"{rec.url}/files/upload",
                headers=headers,
                files={"file": ("p.png", poster, "image/png")},
                data={"user": "u"},
            )
        assert upload.status_code == 201
        local = {"type": "image", "transfer_method": "local_file", "upload_file_id": upload.json()["id"]}
        attached = chat(rec.url, KEY, "What is on it?", user="u", streaming=False, files=[local])
        assert attached.status == 200
        conversation = attached.body["conversation_id"]
        gone = requests.delete(f"{rec.url}/conversations/{conversation}", headers=headers, json={"user": "u"})
        assert gone.status_code == 204 and gone.content == b""


def test_streams_are_relayed_as_they_come(upstream: Served, tmp_path: Path) -> None:
    """With 100 ms between pieces, the frames reach the client through the recorder 100 ms apart."""
    with recorder(upstream.url, KEY, tmp_path / "rec") as rec:
        answer = chat(rec.url, KEY, LONG, headers={"X-Mock-Token-Interval-Ms": "100"})
    gaps = [b[0] - a[0] for a, b in zip(answer.frames[1:-2], answer.frames[2:-1], strict=True)]
    assert len(gaps) > 50 and sorted(gaps)[len(gaps) // 2] > 0.07  # not bunched up in a buffer


def test_redirects_are_relayed_never_followed(tmp_path: Path) -> None:
    hits: list[str] = []

    def elsewhere(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        hits.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"stolen"]

    with serve(elsewhere) as other:

        def fake(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            path = environ["PATH_INFO"]
            if path == "/v1/chat-messages":
                start_response("302 Found", [("Location", f"{other}/steal"), ("Content-Length", "0")])
                return []
            if path == "/v1/moved":
                own = f"http://{environ['HTTP_HOST']}"
                start_response("301 Moved", [("Location", f"{own}/v1/parameters"), ("Content-Length", "0")])
                return []
            body = json.dumps({"user_input_form": [], "mode": "chat", "name": "x", "tags": []}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]

        with serve(fake) as fake_url, recorder(fake_url, "app-fake-key", tmp_path / "rec") as rec:
            resp = chat(rec.url, "app-fake-key", "hello", streaming=False)
            moved = requests.get(f"{rec.url}/moved", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"{other}/steal"
    assert hits == []  # the recorder never went there
    assert moved.status_code == 301 and moved.headers["Location"] == f"{rec.url}/parameters"
    assert layout.exchange_files(tmp_path / "rec") == []  # a redirect is no answer to replay


def test_what_is_kept_is_bounded_with_a_note(upstream: Served, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with recorder(upstream.url, KEY, out, "--max-events", "5", "--max-body-kb", "1") as rec:
        streamed = chat(rec.url, KEY, LONG)
        blocking = chat(rec.url, KEY, LONG, streaming=False)
    assert streamed.types[-1] == "message_end" and len(streamed.frames) > 100  # the client got it all
    assert blocking.status == 200 and len(json.dumps(blocking.body)) > 1024
    stream_doc, body_doc = (yaml.safe_load(p.read_text()) for p in layout.exchange_files(out))
    assert len(stream_doc["response"]["events"]) == 5 and stream_doc["response"]["end"] == "cut"
    assert "5 events" in stream_doc["notes"][0]
    assert body_doc["response"]["body"] is None and "1024 bytes" in body_doc["notes"][0]
    # loading says what cannot be served: a cut answer body is no ChatAppAnswer
    recording = create_app({"app_dirs": [str(out)]}).extensions["chat_mock"].apps.by_key["app-recorded-rec"]
    assert len(recording.recording.exchanges) == 1
    assert "0002-tell-me-the-plot-of-die-hard.yaml: response.body" in recording.recording.problems[0]


def test_a_killed_recorder_leaves_the_earlier_exchanges_whole(upstream: Served, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    with recorder(upstream.url, KEY, out) as rec:
        chat(rec.url, KEY, "Which movie is the best?", streaming=False)
        chat(rec.url, KEY, "Who directed Die Hard?")
        assert len(_wait_for_files(out, 2)) == 2
        received: list[bytes] = []
        failure: list[BaseException] = []

        def slow_stream() -> None:
            try:
                with requests.post(
                    f"{rec.url}/chat-messages",
                    headers={"Authorization": f"Bearer {KEY}", "X-Mock-Token-Interval-Ms": "100"},
                    json={"inputs": INPUTS, "query": LONG, "response_mode": "streaming", "user": "u"},
                    stream=True,
                    timeout=20,
                ) as resp:
                    for chunk in resp.iter_content(chunk_size=None):
                        received.append(chunk)
            except requests.RequestException as exc:
                failure.append(exc)

        reader = threading.Thread(target=slow_stream, daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while sum(c.count(b"\n\n") for c in received) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        rec.proc.kill()  # SIGKILL mid-stream: no clean-up of any kind
        rec.proc.wait(timeout=10)
        reader.join(timeout=20)
    assert failure, "the client's stream should break off with the recorder"
    files = layout.exchange_files(out)
    assert [p.name for p in files] == ["0001-which-movie-is-the-best.yaml", "0002-who-directed-die-hard.yaml"]
    app = create_app({"app_dirs": [str(out)], "replay_speed": 0}).extensions["chat_mock"]
    recording = app.apps.by_key["app-recorded-rec"].recording
    assert recording.problems == [] and len(recording.exchanges) == 2
    # recording again into the directory appends, after removing what a kill may leave
    (out / layout.EXCHANGES / ".0003-x.yaml.123.tmp").write_text("half a fi")
    with recorder(upstream.url, KEY, out) as rec:
        chat(rec.url, KEY, "hello", streaming=False)
    assert [p.name for p in layout.exchange_files(out)][-1] == "0003-hello.yaml"
    assert not list((out / layout.EXCHANGES).glob(".*"))


def test_the_recorder_refuses_what_it_cannot_do_safely(upstream: Served, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "mock_server", "record", "--out", str(tmp_path / "r"), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=str(ROOT))

    wrong_key = run("--upstream", f"{upstream.url}/v1", "--api-key", "app-wrong", "--port", str(free_port()))
    assert wrong_key.returncode == 2 and "401" in wrong_key.stderr and "app-wrong" not in wrong_key.stderr
    exposed = run("--upstream", f"{upstream.url}/v1", "--api-key", KEY, "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "loopback" in exposed.stderr
    no_key = run("--upstream", f"{upstream.url}/v1")
    assert no_key.returncode == 2 and "--api-key" in no_key.stderr
