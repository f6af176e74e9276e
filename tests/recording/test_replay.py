"""Replaying a recording (`chat-mock --app-dir DIR`), in process: checked at load, picked by query,
conversation and mode, fresh ids, stored like any answer, stops, speed, and the fallback rules.

The recordings here are written the way a person edits one: exchanges built from what the mock
itself answers (its events, given times), then changed by hand where a test needs it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from werkzeug.serving import make_server

from mock_server import create_app
from mock_server.apps import AppError
from mock_server.cli import check_inputs, describe_keys, main
from mock_server.config import MockConfig
from mock_server.recording import layout
from tests.mock.conftest import events

UPSTREAM_KEY = "app-mock-dev-key"
KEY = "app-recorded-rec"
INPUTS = {"book": "Die Hard"}
STEP_S = 0.05  # recorded time between two events


@pytest.fixture(scope="module")
def upstream() -> Any:
    """The "real app" of these recordings: the mock's chat app, without pacing."""
    return create_app({}).test_client()


def recorded_exchange(
    upstream: Any,
    query: str,
    streaming: bool = True,
    conversation_id: str = "",
    fault: str | None = None,
    turn: int | None = 1,
) -> dict[str, Any]:
    """An exchange file's document for what the mock answers to `query` (events STEP_S apart)."""
    body = {
        "inputs": INPUTS,
        "query": query,
        "user": "rec-user",
        "conversation_id": conversation_id,
        "response_mode": "streaming" if streaming else "blocking",
    }
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}", **({"X-Mock-Fault": fault} if fault else {})}
    resp = upstream.post("/v1/chat-messages", json=body, headers=headers)
    response: dict[str, Any] = {"status": resp.status_code, "headers": {"Content-Type": resp.mimetype}}
    conversation = None
    if resp.mimetype == "text/event-stream":
        frames = events(resp)
        response["events"] = [{"at": round(0.1 + n * STEP_S, 3), "data": e} for n, e in enumerate(frames)]
        response["elapsed"] = response["events"][-1]["at"]
        response["end"] = "complete"
        conversation = frames[0]["conversation_id"]
    else:
        response["body"] = resp.get_json()
        response["elapsed"] = 0.2
        conversation = response["body"].get("conversation_id")
        if "Retry-After" in resp.headers:
            response["headers"]["Retry-After"] = resp.headers["Retry-After"]
    return {
        "request": {"method": "POST", "path": "/chat-messages", "body": body},
        "conversation": conversation,
        "turn": turn,
        "response": response,
    }


def write_recording(directory: Path, exchanges: list[dict[str, Any]], upstream: Any, **app: Any) -> Path:
    """A recording directory: app.yaml (the mock chat app's documents) and the exchanges."""
    headers = {"Authorization": f"Bearer {UPSTREAM_KEY}"}
    docs = {
        name: upstream.get(f"/v1{path}", headers=headers).get_json()
        for name, path in (
            ("parameters", "/parameters"),
            ("app", "/info"),
            ("site", "/site"),
            ("meta", "/meta"),
        )
    }
    doc = {"format": layout.FORMAT, "key": KEY, **docs, "replay": {"fallback": "nearest"}, **app}
    layout.write_atomic(directory / layout.APP_FILE, layout.dump_yaml(doc))
    for n, exchange in enumerate(exchanges, start=1):
        name = layout.exchange_name(n, exchange["request"]["body"]["query"])
        layout.write_atomic(directory / layout.EXCHANGES / name, layout.dump_yaml(exchange))
    return directory


def replay_client(directory: Path, **config: Any) -> Any:
    """A replaying mock's test client; its store beside the recording (a private temp store goes
    with the app, and a test that drops the client at once would pull it from under the stop poller)."""
    store = directory.parent / f"store-{len(list(directory.parent.glob('store-*.sqlite3')))}.sqlite3"
    return create_app(
        {"app_dirs": [str(directory)], "replay_speed": 0, "store": str(store), **config}
    ).test_client()


def send(client: Any, query: str, streaming: bool = True, user: str = "u1", **body: Any) -> Any:
    payload = {
        "inputs": INPUTS,
        "query": query,
        "user": user,
        "response_mode": "streaming" if streaming else "blocking",
        **body,
    }
    return client.post("/v1/chat-messages", json=payload, headers={"Authorization": f"Bearer {KEY}"})


def answer_of(resp: Any) -> str:
    if resp.mimetype != "text/event-stream":
        return resp.get_json()["answer"]
    out = ""
    for event in events(resp):
        if event["event"] == "message":
            out += event["answer"]
        elif event["event"] == "message_replace":
            out = event["answer"]
    return out


def recording_of(client: Any) -> Any:
    return client.application.extensions["chat_mock"].apps.by_key[KEY].recording


# ---------------------------------------------------------------- checked at load


def test_an_event_the_contract_refuses_is_reported_and_not_served(tmp_path: Path, upstream: Any) -> None:
    good = recorded_exchange(upstream, "Which movie is the best?")
    bad_id = recorded_exchange(upstream, "Who directed Die Hard?")
    bad_id["response"]["events"][1]["data"]["message_id"] = "nope"
    wrong_mode = recorded_exchange(upstream, "hello")
    wrong_mode["response"]["events"][0]["data"]["event"] = "agent_thought"  # an agent's event, in a chat app
    directory = write_recording(
        tmp_path / "rec", [good, bad_id, wrong_mode], upstream, replay={"fallback": "error"}
    )
    client = replay_client(directory)
    problems = recording_of(client).problems
    assert len(problems) == 2
    assert "0002-who-directed-die-hard.yaml: response.events[1].data" in problems[0]
    assert "'nope'" in problems[0] and problems[0].endswith("(not served)")
    assert "0003-hello.yaml: response.events[0].data" in problems[1]
    assert send(client, "Which movie is the best?").status_code == 200
    refused = send(client, "Who directed Die Hard?")
    assert refused.status_code == 404 and "Who directed Die Hard?" in refused.get_json()["message"]


def test_the_cli_reports_refused_exchanges_and_refuses_an_app_it_cannot_serve(
    tmp_path: Path, upstream: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = recorded_exchange(upstream, "Who directed Die Hard?")
    bad["response"]["events"][0]["at"] = -1
    directory = write_recording(tmp_path / "rec", [bad], upstream)
    assert check_inputs(MockConfig(app_dirs=[str(directory)])) is None  # served, minus that exchange
    assert "chat-mock: warning: rec/exchanges/0001-who-directed-die-hard.yaml: response.events[0].at" in (
        capsys.readouterr().err
    )
    broken = write_recording(tmp_path / "broken", [], upstream, parameters={"user_input_form": []})
    assert main(["--app-dir", str(broken), "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert (
        "chat-mock: error: --app-dir" in err and "app.yaml: parameters.opening_statement: is required" in err
    )
    assert main(["--app-dir", str(directory), "--replay-speed", "nan", "--port", "1"]) == 2
    assert "replay_speed must be within 0..1000" in capsys.readouterr().err
    with pytest.raises(AppError, match="app.mode"):
        create_app(
            {
                "app_dirs": [
                    str(
                        write_recording(
                            tmp_path / "c", [], upstream, app={"name": "x", "tags": [], "mode": "workflow"}
                        )
                    )
                ]
            }
        )


# ---------------------------------------------------------------- picking and fallbacks


def test_a_query_nobody_recorded_gets_the_fallback(tmp_path: Path, upstream: Any) -> None:
    directory = write_recording(
        tmp_path / "rec",
        [recorded_exchange(upstream, "Which movie is the best?"), recorded_exchange(upstream, "hello")],
        upstream,
    )
    nearest = send(replay_client(directory), "which movie is best")
    assert answer_of(nearest) == "It's Die Hard for sure."
    fixed = send(replay_client(directory, replay_fallback="answer"), "which movie is best")
    assert answer_of(fixed) == "Sorry, I have no recorded answer to that."
    refused = send(replay_client(directory, replay_fallback="error"), "which movie is best", streaming=False)
    assert refused.status_code == 404
    assert "'which movie is best'" in refused.get_json()["message"]
    assert "'hello'" in refused.get_json()["message"]  # it names what was recorded


def test_a_conversation_continues_as_recorded(tmp_path: Path, upstream: Any) -> None:
    """The same follow-up in two recorded conversations: the one after the same first query answers."""
    first_a = recorded_exchange(upstream, "hello")
    more_a = recorded_exchange(upstream, "Tell me more", conversation_id=first_a["conversation"], turn=2)
    first_b = recorded_exchange(upstream, "Which movie is the best?")
    more_b = recorded_exchange(upstream, "Tell me more", conversation_id=first_b["conversation"], turn=2)
    for exchange, text in ((more_a, "After hello."), (more_b, "After the best movie.")):
        # a person edits the recorded answer: the pieces, and message_end stays as it was
        pieces = [e for e in exchange["response"]["events"] if e["data"]["event"] == "message"]
        pieces[0]["data"]["answer"] = text
        exchange["response"]["events"] = [pieces[0], exchange["response"]["events"][-1]]
    directory = write_recording(tmp_path / "rec", [first_a, more_a, first_b, more_b], upstream)
    client = replay_client(directory)
    for opener, expected in (
        ("Which movie is the best?", "After the best movie."),
        ("hello", "After hello."),
    ):
        started = send(client, opener, streaming=False).get_json()
        follow = send(client, "Tell me more", conversation_id=started["conversation_id"])
        assert answer_of(follow) == expected


def test_recordings_of_one_query_answer_in_turn(tmp_path: Path, upstream: Any) -> None:
    """Recorded failing and then succeeding: the replay fails once, then succeeds (and round again)."""
    directory = write_recording(
        tmp_path / "rec",
        [
            recorded_exchange(upstream, "Rate me", streaming=False, fault="status=429;retry_after=7"),
            recorded_exchange(upstream, "Rate me", streaming=False),
        ],
        upstream,
    )
    client = replay_client(directory)
    statuses = [send(client, "Rate me", streaming=False) for _ in range(3)]
    assert [r.status_code for r in statuses] == [429, 200, 429]
    assert statuses[0].headers["Retry-After"] == "7"
    assert statuses[0].get_json()["code"] == "too_many_requests"


def test_recordings_answer_in_turn_across_workers(tmp_path: Path, upstream: Any) -> None:
    """Two workers (two apps, each with its own copy of the recording) on one store: a query asked
    again in a conversation gets the next recorded answer whichever worker serves it (a count kept
    in each process gave the second turn the first turn's answer)."""
    first = recorded_exchange(upstream, "Go on", turn=None)
    second = recorded_exchange(upstream, "Go on", turn=None)
    for exchange, text in ((first, "Part one."), (second, "Part two.")):
        pieces = [e for e in exchange["response"]["events"] if e["data"]["event"] == "message"]
        pieces[0]["data"]["answer"] = text
        exchange["response"]["events"] = [pieces[0], exchange["response"]["events"][-1]]
    directory = write_recording(tmp_path / "rec", [first, second], upstream)
    store = str(tmp_path / "shared.sqlite3")
    workers = [
        create_app({"app_dirs": [str(directory)], "replay_speed": 0, "store": store}).test_client()
        for _ in range(2)
    ]
    opened = events(send(workers[0], "Go on"))
    conversation = opened[0]["conversation_id"]
    again = send(workers[1], "Go on", conversation_id=conversation)
    assert [answer_of_events(opened), answer_of(again)] == ["Part one.", "Part two."]
    assert answer_of(send(workers[0], "Go on", conversation_id=conversation)) == "Part one."


def answer_of_events(frames: list[dict[str, Any]]) -> str:
    return "".join(e["answer"] for e in frames if e["event"] == "message")


def test_one_mode_answers_from_the_other_when_only_it_was_recorded(tmp_path: Path, upstream: Any) -> None:
    streamed = recorded_exchange(upstream, "Which movie is the best?")
    blocking = recorded_exchange(upstream, "Who directed Die Hard?", streaming=False)
    streamed["response"]["events"][-1]["data"]["metadata"]["usage"]["total_tokens"] = 4242
    blocking["response"]["body"]["metadata"]["usage"]["total_tokens"] = 4343
    client = replay_client(write_recording(tmp_path / "rec", [streamed, blocking], upstream))
    as_blocking = send(client, "Which movie is the best?", streaming=False).get_json()
    assert as_blocking["answer"] == "It's Die Hard for sure."
    assert as_blocking["metadata"]["usage"]["total_tokens"] == 4242  # the recorded message_end's
    as_stream = events(send(client, "Who directed Die Hard?"))
    assert (
        "".join(e["answer"] for e in as_stream if e["event"] == "message")
        == "John McTiernan directed Die Hard (1988)."
    )
    assert as_stream[-1]["metadata"]["usage"]["total_tokens"] == 4343


# ---------------------------------------------------------------- stored like any answer


def test_a_replayed_answer_has_fresh_ids_and_is_stored_like_any(tmp_path: Path, upstream: Any) -> None:
    exchange = recorded_exchange(upstream, "Which movie is the best?")
    recorded_ids = {
        e["data"][k]
        for e in exchange["response"]["events"]
        for k in ("task_id", "message_id", "conversation_id")
    }
    client = replay_client(write_recording(tmp_path / "rec", [exchange], upstream))
    seen = [events(send(client, "Which movie is the best?", user="u7")) for _ in range(2)]
    ids = [{e[k] for e in stream for k in ("task_id", "message_id", "conversation_id")} for stream in seen]
    assert not ids[0] & recorded_ids and not ids[1] & recorded_ids and not ids[0] & ids[1]
    assert all(e["created_at"] >= int(time.time()) - 60 for e in seen[0])
    auth = {"Authorization": f"Bearer {KEY}"}
    conversation, message = seen[0][0]["conversation_id"], seen[0][0]["message_id"]
    history = client.get(f"/v1/messages?user=u7&conversation_id={conversation}", headers=auth).get_json()
    assert [m["answer"] for m in history["data"]] == ["It's Die Hard for sure."]
    listed = client.get("/v1/conversations?user=u7", headers=auth).get_json()["data"]
    assert {c["id"] for c in listed} == {s[0]["conversation_id"] for s in seen}
    liked = client.post(
        f"/v1/messages/{message}/feedbacks", json={"rating": "like", "user": "u7"}, headers=auth
    )
    assert liked.get_json() == {"result": "success"}
    renamed = client.post(
        f"/v1/conversations/{conversation}/name", json={"name": "Mine", "user": "u7"}, headers=auth
    )
    assert renamed.get_json()["name"] == "Mine"
    other_app = client.get(
        f"/v1/messages?user=u7&conversation_id={conversation}",
        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
    )
    assert other_app.status_code == 404  # the recorded app's conversations are its own


# ---------------------------------------------------------------- timing, stops


@pytest.fixture
def live(tmp_path: Path) -> Any:
    servers = []

    def start(directory: Path, **config: Any) -> str:
        app = create_app({"app_dirs": [str(directory)], "store": str(tmp_path / "s.sqlite3"), **config})
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/v1"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def timed_stream(
    base: str, query: str, on_event: Callable[[dict[str, Any]], None] | None = None
) -> list[tuple[float, dict[str, Any]]]:
    sent = time.monotonic()
    body = {"inputs": INPUTS, "query": query, "user": "u1", "response_mode": "streaming"}
    out = []
    with requests.post(
        f"{base}/chat-messages",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        stream=True,
        timeout=20,
    ) as resp:
        for line in resp.iter_lines():
            if line.startswith(b"data:"):
                event = json.loads(line[5:])
                out.append((time.monotonic() - sent, event))
                if on_event:
                    on_event(event)
    return out


def test_replay_speed_scales_the_recorded_timing(tmp_path: Path, upstream: Any, live: Any) -> None:
    exchange = recorded_exchange(upstream, "Tell me the plot of Die Hard")  # ~120 events, 0.1 + 0.05 s each
    directory = write_recording(tmp_path / "rec", [exchange], upstream)
    span = exchange["response"]["events"][-1]["at"]
    for speed, low, high in ((1.0, 0.8, 1.3), (2.0, 0.4, 0.7), (0.0, 0.0, 0.1)):
        frames = timed_stream(live(directory, replay_speed=speed), "Tell me the plot of Die Hard")
        assert low * span <= frames[-1][0] <= high * span + 0.2, (speed, frames[-1][0], span)


def test_a_replayed_stream_can_be_stopped(tmp_path: Path, upstream: Any, live: Any) -> None:
    directory = write_recording(
        tmp_path / "rec", [recorded_exchange(upstream, "Tell me the plot of Die Hard")], upstream
    )
    base = live(directory, replay_speed=1.0)
    stopped: list[str] = []
    pieces: list[str] = []

    def stop_after_three(event: dict[str, Any]) -> None:
        if event["event"] == "message":
            pieces.append(event["answer"])
        if len(pieces) == 3 and not stopped:
            requests.post(
                f"{base}/chat-messages/{event['task_id']}/stop",
                json={"user": "u1"},
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=5,
            )
            stopped.append(event["conversation_id"])

    frames = timed_stream(base, "Tell me the plot of Die Hard", stop_after_three)
    kinds = [e["event"] for _, e in frames]
    assert stopped and kinds[-1] == "message_end" and kinds.count("message") < 40
    sent = "".join(e["answer"] for _, e in frames if e["event"] == "message")
    history = requests.get(
        f"{base}/messages",
        params={"user": "u1", "conversation_id": stopped[0]},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=5,
    ).json()
    assert history["data"][0]["answer"] == sent


def test_the_recording_format_round_trips_as_yaml(tmp_path: Path, upstream: Any) -> None:
    """What a person sees is plain YAML: the exchange loads with any YAML reader, keys in order."""
    directory = write_recording(tmp_path / "rec", [recorded_exchange(upstream, "hello")], upstream)
    text = layout.exchange_files(directory)[0].read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert list(doc) == ["request", "conversation", "turn", "response"]
    assert text.index("request:") < text.index("response:") and "\n  events:\n" in text


def test_a_recording_serves_under_another_key_and_keeps_events_it_does_not_know(
    tmp_path: Path, upstream: Any
) -> None:
    """`--app KEY=DIR` binds a key of one's own; an event type the contract does not know (legal:
    ChatUnknownEvent) is replayed where it was recorded, as the real app sent it."""
    exchange = recorded_exchange(upstream, "hello")
    newer = {**exchange["response"]["events"][0]["data"], "event": "reasoning_summary", "text": "Hm."}
    exchange["response"]["events"].insert(1, {"at": 0.12, "data": newer})
    directory = write_recording(tmp_path / "rec", [exchange], upstream)
    config = MockConfig(api_keys=["only-this-key"], app_bindings={"my-ui-key": str(directory)})
    assert (
        describe_keys(config)
        == "only-this-key=chat(chat),my-ui-key=recorded/rec(chat),app-recorded-rec=recorded/rec(chat)"
    )
    client = create_app(config).test_client()
    payload = {"inputs": INPUTS, "query": "hello", "user": "u1", "response_mode": "streaming"}
    for key in ("my-ui-key", KEY):
        resp = client.post("/v1/chat-messages", json=payload, headers={"Authorization": f"Bearer {key}"})
        kinds = [e["event"] for e in events(resp)]
        assert kinds[:3] == ["message", "reasoning_summary", "message"] and kinds[-1] == "message_end"


def test_recorded_apps_are_todays(tmp_path: Path, upstream: Any) -> None:
    """The 2023 API had no app modes (B10): a recording is not served there."""
    directory = write_recording(tmp_path / "rec", [recorded_exchange(upstream, "hello")], upstream)
    with pytest.raises(AppError, match="current era only"):
        create_app({"app_dirs": [str(directory)], "era": "2023"})
