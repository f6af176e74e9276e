"""Pacing, keep-alives, stop (also from another worker), and faults on demand."""

from __future__ import annotations

import json
import time

import pytest

from mock_server.streaming import Pacing
from tests.contract import parse_sse
from tests.mock.conftest import AUTH, chat, events, raw_chat_stream
from tests.mock.contract_check import CheckedClient

PLOT = "Tell me the plot of Die Hard"
STREAM = {"inputs": {"book": "x"}, "query": PLOT, "user": "s1", "response_mode": "streaming"}


def _raw_stream(app, headers=None, body=None):
    resp = app.test_client().post(
        "/v1/chat-messages", headers={**AUTH, **(headers or {})}, json=body or STREAM, buffered=False
    )
    return resp


def _payloads(items) -> list[dict]:
    return [json.loads(e["data"]) for e in parse_sse(b"".join(items).decode()) if "data" in e]


def test_schedule_is_reproducible_and_jittered() -> None:
    a = Pacing(ttft_ms=100, interval_ms=20, jitter_ms=5, seed=7).schedule(50, "k")
    assert a == Pacing(ttft_ms=100, interval_ms=20, jitter_ms=5, seed=7).schedule(50, "k")
    assert a != Pacing(ttft_ms=100, interval_ms=20, jitter_ms=5, seed=8).schedule(50, "k")
    for i, t in enumerate(a):
        assert abs(t - (0.1 + 0.02 * i)) <= 0.005 + 1e-9
    assert Pacing(ttft_ms=0, interval_ms=0).schedule(3, "k") == [0.0, 0.0, 0.0]


def test_ttft_and_interval_are_applied(make_app) -> None:
    client = CheckedClient(make_app(ttft_ms=150, token_interval_ms=10))
    start = time.monotonic()
    evs = events(chat(client, "Which movie is the best?", response_mode="streaming"))
    elapsed = time.monotonic() - start
    assert len(evs) == 6
    assert 0.15 + 4 * 0.01 <= elapsed < 10.0  # a floor; the ceiling only catches seconds read as ms


def test_pacing_headers_override_per_request(client) -> None:
    start = time.monotonic()
    chat(client, "hello", response_mode="streaming", headers={"X-Mock-TTFT-Ms": "120"})
    assert time.monotonic() - start >= 0.12
    bad = chat(client, "hello", response_mode="streaming", headers={"X-Mock-Token-Interval-Ms": "fast"})
    assert bad.status_code == 400 and "X-Mock-Token-Interval-Ms" in bad.json["message"]


def test_pings_while_idle(make_app) -> None:
    client = CheckedClient(make_app(ttft_ms=260, ping_interval_s=0.05))
    resp = chat(client, "hello", response_mode="streaming")
    raw = resp.get_data(as_text=True)
    frames = parse_sse(raw)
    pings = [f for f in frames if f.get("event") == "ping"]
    assert len(pings) >= 2 and all("data" not in p for p in pings)
    assert raw.startswith("event: ping\n\n")
    assert json.loads(frames[-1]["data"])["event"] == "message_end"


def test_stop_from_another_worker_ends_with_message_end(make_app) -> None:
    streaming_app = make_app(token_interval_ms=20)
    other_worker = CheckedClient(make_app())
    resp = _raw_stream(streaming_app)
    it = iter(resp.response)
    first = [next(it) for _ in range(3)]
    task_id = json.loads(first[0][6:])["task_id"]
    stop = other_worker.post(f"/v1/chat-messages/{task_id}/stop", headers=AUTH, json={"user": "s1"})
    assert stop.json == {"result": "success"}
    rest = list(it)
    payloads = _payloads(first + rest)
    assert payloads[-1]["event"] == "message_end"
    pieces = [p for p in payloads if p["event"] == "message"]
    assert 3 <= len(pieces) < 60  # the full answer has well over 100 pieces
    history = other_worker.get(
        f"/v1/messages?conversation_id={pieces[0]['conversation_id']}&user=s1", headers=AUTH
    ).json["data"]
    assert history[-1]["answer"] == "".join(p["answer"] for p in pieces)


def test_stop_is_scoped_to_the_user_and_idempotent(make_app) -> None:
    app = make_app(token_interval_ms=5)
    client = CheckedClient(app)
    resp = _raw_stream(app)
    it = iter(resp.response)
    first = next(it)
    task_id = json.loads(first[6:])["task_id"]
    client.post(f"/v1/chat-messages/{task_id}/stop", headers=AUTH, json={"user": "someone-else"})
    payloads = _payloads([first, *it])
    assert len([p for p in payloads if p["event"] == "message"]) > 100  # not stopped by another user
    again = client.post(f"/v1/chat-messages/{task_id}/stop", headers=AUTH, json={"user": "s1"})
    assert again.json == {"result": "success"}  # finished task: still success
    unknown = client.post(
        "/v1/chat-messages/3f1b8a1e-0000-4000-8000-000000000000/stop", headers=AUTH, json={"user": "s1"}
    )
    assert unknown.status_code == 200
    assert client.post(f"/v1/chat-messages/{task_id}/stop", headers=AUTH, json={}).status_code == 400


# ---------- faults ----------

SURFACE_CALLS = {
    "chat-app": ("GET", "/v1/parameters", None),
    "conversational": ("POST", "/models/microsoft/DialoGPT-large", {"inputs": {"text": "hi"}}),
    "chat-completions": (
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    ),
}


@pytest.mark.parametrize("surface", sorted(SURFACE_CALLS))
@pytest.mark.parametrize("status", [429, 500, 503])
def test_status_faults_use_the_surface_envelope(client, surface, status) -> None:
    method, url, body = SURFACE_CALLS[surface]
    resp = client.open(
        method, url, headers={**AUTH, "X-Mock-Fault": f"status={status};retry_after=7"}, json=body
    )
    assert resp.status_code == status
    if status in (429, 503):
        assert resp.headers["Retry-After"] == "7"
    if surface == "chat-app":
        assert resp.json["status"] == status
    if surface == "conversational" and status == 503:
        assert resp.json == {
            "error": "Model microsoft/DialoGPT-large is currently loading",
            "estimated_time": 20.0,
        }


def test_latency_fault(client) -> None:
    start = time.monotonic()
    assert client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": "latency_ms=150"}).status_code == 200
    assert time.monotonic() - start >= 0.15


def test_bad_fault_header_is_400(client) -> None:
    for header in ("status", "status=abc", "explode=1", "status=200"):
        resp = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": header})
        assert resp.status_code == 400 and resp.json["message"].startswith("X-Mock-Fault:")


def test_disconnect_after_k_frames(app) -> None:
    items = list(_raw_stream(app, {"X-Mock-Fault": "disconnect_after=3"}).response)
    payloads = _payloads(items)
    assert len(items) == 3 and [p["event"] for p in payloads] == ["message"] * 3  # no terminal event


def test_malformed_frame(app) -> None:
    items = list(_raw_stream(app, {"X-Mock-Fault": "malformed_after=2"}).response)
    with pytest.raises(json.JSONDecodeError):
        json.loads(items[2][6:])
    assert json.loads(items[-1][6:])["event"] == "message_end"


def test_stall_is_bounded_and_keeps_silent(make_app) -> None:
    app = make_app(stall_max_s=0.3)
    start = time.monotonic()
    items = list(_raw_stream(app, {"X-Mock-Fault": "stall_after=2;stall_s=5"}).response)
    elapsed = time.monotonic() - start
    assert 0.3 <= elapsed < 2.0
    assert len(items) == 2
    items = list(_raw_stream(app, {"X-Mock-Fault": "stall_after=1;stall_s=0.1"}).response)
    assert len(items) == 1


def test_stream_fault_on_completions(app) -> None:
    resp = app.test_client().post(
        "/v1/chat/completions",
        headers={**AUTH, "X-Mock-Fault": "disconnect_after=2"},
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello"}]},
    )
    assert b"[DONE]" not in resp.get_data() and resp.get_data().count(b"\n\n") == 2


def test_global_faults_count_match_and_share_across_workers(make_app) -> None:
    a, b = CheckedClient(make_app()), CheckedClient(make_app())
    created = a.client.post(
        "/_mock/faults", json={"fault": "status=503", "operation_id": "listConversations", "count": 2}
    )
    assert created.status_code == 201
    assert a.get("/v1/conversations?user=x", headers=AUTH).status_code == 503
    assert a.get("/v1/parameters", headers=AUTH).status_code == 200  # other operations unaffected
    assert b.get("/v1/conversations?user=x", headers=AUTH).status_code == 503  # the other worker sees it
    assert b.get("/v1/conversations?user=x", headers=AUTH).status_code == 200  # count used up
    assert a.client.get("/_mock/faults").json["data"] == []


def test_global_fault_probability_and_delete(client) -> None:
    admin = client.client
    admin.post("/_mock/faults", json={"fault": {"status": 500}, "probability": 0.0})
    assert all(client.get("/v1/parameters", headers=AUTH).status_code == 200 for _ in range(20))
    fid = admin.post("/_mock/faults", json={"fault": "status=429", "probability": 1.0}).json["id"]
    assert client.get("/v1/parameters", headers=AUTH).status_code == 429
    assert admin.delete(f"/_mock/faults/{fid}").status_code == 200
    assert admin.delete(f"/_mock/faults/{fid}").status_code == 404
    assert client.get("/v1/parameters", headers=AUTH).status_code == 200
    admin.post("/_mock/faults", json={"fault": "latency_ms=1"})
    assert admin.delete("/_mock/faults").json["removed"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {"fault": "status=99"},
        {"fault": ""},
        {"fault": "status=500", "operation_id": "nope"},
        {"fault": "status=500", "count": 0},
        {"fault": "status=500", "probability": 2},
    ],
)
def test_bad_global_fault_is_400(client, body) -> None:
    assert client.client.post("/_mock/faults", json=body).status_code == 400


def test_error_after_matches_the_golden_error_stream(client) -> None:
    from pathlib import Path

    golden = Path(__file__).resolve().parents[2] / "fixtures" / "streams" / "plot.error.chat.sse"
    want = [json.loads(e["data"]) for e in parse_sse(golden.read_text())]
    resp = client.post(
        "/v1/chat-messages",
        headers={**AUTH, "X-Mock-Fault": "error_after=12"},
        json={**STREAM, "user": "lucy-7"},
    )
    got = events(resp)
    assert [list(e) for e in got] == [list(e) for e in want]
    assert [e.get("answer") for e in got] == [e.get("answer") for e in want]
    drawn = {k: got[0][k] for k in ("task_id", "conversation_id", "created_at")}
    assert got[-1] == {**want[-1], **drawn, "message_id": got[0]["id"]}
    history = client.get(
        f"/v1/messages?conversation_id={got[0]['conversation_id']}&user=lucy-7", headers=AUTH
    ).json["data"]
    assert history[-1]["answer"] == "".join(e["answer"] for e in got[:-1])  # what the client received


def test_error_after_on_completions(client) -> None:
    resp = client.post(
        "/v1/chat/completions",
        headers={**AUTH, "X-Mock-Fault": "error_after=3"},
        json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hello"}]},
    )
    frames = [e["data"] for e in parse_sse(resp.get_data(as_text=True))]
    assert len(frames) == 4 and json.loads(frames[-1])["error"]["type"] == "server_error"


@pytest.mark.parametrize("piece", ["", " plain", ' "quoted"\n', "Bonjour\u00a0!", " 👋", "\\u0000"])
def test_piece_template_is_byte_identical_to_full_serialization(piece) -> None:
    from mock_server.streaming import PIECE, data_frame, piece_template

    payload = {"event": "message", "id": "x", "answer": PIECE, "created_at": 1}
    assert piece_template(payload)(piece) == data_frame({**payload, "answer": piece})


def test_disconnect_drops_the_connection_on_a_real_server(live_server) -> None:
    """On a real socket the connection is cut: the chunked body never gets its terminating chunk."""
    raw = raw_chat_stream(live_server(), STREAM, "disconnect_after=2")
    assert raw.count(b"data: ") == 2
    assert not raw.endswith(b"0\r\n\r\n")  # no clean end of the chunked body
