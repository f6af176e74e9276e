"""Stream faults at the edges: K=0 (right after the headers), K at or past the stream's last frame
(just before the terminal frames), and stream directives on requests that are not streamed (400)."""

from __future__ import annotations

import json
import time

import pytest

from mock_server.streaming import MALFORMED_FRAME
from tests.contract import parse_sse
from tests.mock.conftest import AUTH, chat, raw_chat_stream
from tests.mock.contract_check import CheckedClient

PLOT = {"inputs": {"book": "x"}, "query": "Tell me the plot of Die Hard", "user": "b1"}
COMPLETION = {"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello"}]}


def _chat_items(app, fault: str) -> list[bytes]:
    resp = app.test_client().post(
        "/v1/chat-messages",
        headers={**AUTH, "X-Mock-Fault": fault},
        json={**PLOT, "response_mode": "streaming"},
        buffered=False,
    )
    assert resp.status_code == 200
    return list(resp.response)


def _completion_frames(app, fault: str | None) -> list[str]:
    headers = {**AUTH, **({"X-Mock-Fault": fault} if fault else {})}
    resp = app.test_client().post("/v1/chat/completions", headers=headers, json=COMPLETION)
    assert resp.status_code == 200
    return [e["data"] for e in parse_sse(resp.get_data(as_text=True)) if "data" in e]


def _events(items: list[bytes]) -> list[str]:
    return [json.loads(e["data"])["event"] for e in parse_sse(b"".join(items).decode()) if "data" in e]


# ---------- K = 0: the headers, then the action ----------


def test_error_after_0_sends_only_the_error_event(app) -> None:
    assert _events(_chat_items(app, "error_after=0")) == ["error"]


def test_stall_after_0_stalls_before_any_frame(make_app) -> None:
    app = make_app(stall_max_s=5)
    start = time.monotonic()
    items = _chat_items(app, "stall_after=0;stall_s=0.3")
    assert time.monotonic() - start >= 0.3
    assert b"".join(items) == b""  # headers only (one empty write sends them)


def test_malformed_after_0_is_the_first_frame(app) -> None:
    items = [i for i in _chat_items(app, "malformed_after=0") if i]
    assert items[0] == MALFORMED_FRAME
    assert _events(items[1:])[-1] == "message_end"


def test_disconnect_after_0_sends_headers_then_drops(live_server) -> None:
    raw = raw_chat_stream(live_server(), {**PLOT, "response_mode": "streaming"}, "disconnect_after=0")
    assert raw.startswith(b"HTTP/1.1 200") and b"text/event-stream" in raw  # not an empty reply
    assert b"data: " not in raw and not raw.endswith(b"0\r\n\r\n")


# ---------- K at or past the last frame: just before the terminal frame(s) ----------


def test_completion_faults_past_the_end_come_before_the_finish_chunk(app) -> None:
    clean = _completion_frames(app, None)
    content = len(clean) - 2  # role chunk + pieces; then the finish chunk and [DONE]
    assert json.loads(clean[-2])["choices"][0]["finish_reason"] == "stop" and clean[-1] == "[DONE]"
    for k in (content, content + 1, 1000):  # content + 1: between the finish chunk and [DONE]
        frames = _completion_frames(app, f"malformed_after={k}")
        assert len(frames) == len(clean) + 1
        assert frames[content] == MALFORMED_FRAME.decode()[len("data: ") : -2]
        assert json.loads(frames[content + 1])["choices"][0]["finish_reason"] == "stop"
        assert frames[-1] == "[DONE]"
    for k in (content + 1, 1000):
        frames = _completion_frames(app, f"error_after={k}")
        assert len(frames) == content + 1 and "[DONE]" not in frames
        assert json.loads(frames[-1])["error"]["type"] == "server_error"


def test_chat_error_past_the_end_replaces_message_end(app) -> None:
    events = _events(_chat_items(app, "error_after=100000"))
    assert events[-1] == "error" and "message_end" not in events
    assert events[:-1] == ["message"] * (len(events) - 1) and len(events) > 100


def test_chat_stall_past_the_end_never_sends_message_end(make_app) -> None:
    app = make_app(stall_max_s=0.1)
    events = _events(_chat_items(app, "stall_after=100000"))
    assert "message_end" not in events and len(events) > 100


# ---------- stream directives on a request that is not streamed ----------


@pytest.mark.parametrize("directive", ["disconnect_after", "stall_after", "malformed_after", "error_after"])
def test_stream_directive_on_a_blocking_chat_message_is_400(client, directive) -> None:
    resp = chat(client, "hello", user="blocking-fault", headers={"X-Mock-Fault": f"{directive}=1"})
    assert resp.status_code == 400
    assert resp.json == {
        "code": "invalid_param",
        "message": f"X-Mock-Fault: {directive} applies to streaming responses only",
        "status": 400,
    }
    assert client.get("/v1/conversations?user=blocking-fault", headers=AUTH).json["data"] == []


def test_stream_directive_on_other_surfaces_uses_their_envelope(client) -> None:
    fault = {"X-Mock-Fault": "latency_ms=1;error_after=2"}
    completion = client.post(
        "/v1/chat/completions", headers={**AUTH, **fault}, json={**COMPLETION, "stream": False}
    )
    assert completion.status_code == 400
    assert completion.json["error"] == {
        "message": "X-Mock-Fault: error_after applies to streaming responses only",
        "type": "invalid_request_error",
        "param": "X-Mock-Fault",
        "code": None,
    }
    hf = client.post(
        "/models/microsoft/DialoGPT-large", headers={**AUTH, **fault}, json={"inputs": {"text": "hi"}}
    )
    assert hf.status_code == 400
    assert hf.json == {"error": "X-Mock-Fault: error_after applies to streaming responses only"}
    params = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": "stall_after=0"})
    assert params.status_code == 400 and params.json["message"].endswith("streaming responses only")


def test_stream_directive_on_a_stream_is_still_accepted(client) -> None:
    resp = chat(client, "hello", response_mode="streaming", headers={"X-Mock-Fault": "error_after=1"})
    assert resp.status_code == 200


def test_stored_stream_fault_waits_for_a_streamed_request(make_app) -> None:
    client = CheckedClient(make_app())
    client.client.post("/_mock/faults", json={"fault": "error_after=0", "count": 1})
    assert client.get("/v1/parameters", headers=AUTH).status_code == 200  # neither refused nor used up
    assert chat(client, "hello", user="sf").status_code == 200
    assert client.client.get("/_mock/faults").json["data"][0]["remaining"] == 1
    streamed = chat(client, "hello", user="sf", response_mode="streaming")
    assert [json.loads(e["data"])["event"] for e in parse_sse(streamed.get_data(as_text=True))] == ["error"]
    assert client.client.get("/_mock/faults").json["data"] == []
