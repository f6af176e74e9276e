"""App modes: each key is an app (chat, agent-chat, advanced-chat, a chat app that speaks) whose
streams carry that mode's events, in the order the contract's stream roles allow, and whose
blocking answers and history agree with its streams.

The roles and modes come from openapi.yaml (`x-stream-role`, `x-app-modes` of each event schema);
every response goes through CheckedClient, so every event is validated against its schema.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from conformance.samples import tiny_png
from tests.contract import contract, parse_sse
from tests.mock.contract_check import CheckedClient
from tests.mock.mp3 import mp3_frames

KEYS = {
    "chat": "app-mock-dev-key",
    "agent": "app-mock-agent-key",
    "chatflow": "app-mock-chatflow-key",
    "voice": "app-mock-voice-key",
    "other": "app-mock-other-key",  # a second chat app (chat-conformance --other-app-key)
}
MODES = {"chat": "chat", "agent": "agent-chat", "chatflow": "advanced-chat", "voice": "chat", "other": "chat"}
INPUTS = {"book": "Die Hard"}
POSTER = "Show me the Die Hard poster"
# (app, query, the event types its stream must carry)
CASES = [
    ("chat", "Which movie is the best?", {"message", "message_end"}),
    ("chat", POSTER, {"message_file", "message", "message_end"}),
    ("chat", "How does Die Hard end?", {"message", "message_replace", "message_end"}),
    ("agent", "Who directed Die Hard?", {"agent_thought", "agent_message", "message_end"}),
    ("agent", POSTER, {"agent_thought", "message_file", "agent_message", "message_end"}),
    (
        "chatflow",
        "Who directed Die Hard?",
        {
            "workflow_started",
            "node_started",
            "node_finished",
            "iteration_started",
            "iteration_next",
            "iteration_completed",
            "message",
            "workflow_finished",
            "message_end",
        },
    ),
    ("voice", "Which movie is the best?", {"message", "tts_message", "message_end", "tts_message_end"}),
]
IDS = [f"{app}:{query}" for app, query, _ in CASES]


def _event_schemas() -> dict[str, dict[str, Any]]:
    schemas = contract()["components"]["schemas"]
    mapping = schemas["ChatStreamEvent"]["discriminator"]["mapping"]
    return {event: schemas[ref.rsplit("/", 1)[-1]] for event, ref in mapping.items()}


SCHEMAS = _event_schemas()
ROLES = {event: s["x-stream-role"] for event, s in SCHEMAS.items()}


def auth(app: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[app]}"}


def stream(
    client: CheckedClient, app: str, query: str, user: str = "u1", **extra: Any
) -> list[dict[str, Any]]:
    resp = client.post(
        "/v1/chat-messages",
        headers={**auth(app), **extra.pop("headers", {})},
        json={"inputs": INPUTS, "query": query, "user": user, "response_mode": "streaming", **extra},
    )
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    return [json.loads(e["data"]) for e in parse_sse(resp.get_data(as_text=True)) if "data" in e]


def order_problems(events: list[dict[str, Any]]) -> list[str]:
    """What breaks the order the stream roles allow (see ChatStreamEvent in openapi.yaml)."""
    roles = [ROLES.get(e["event"], "unknown") for e in events]
    problems = []
    terminals = [n for n, r in enumerate(roles) if r == "terminal"]
    if len(terminals) != 1:
        return [f"{len(terminals)} terminal events"]
    end = terminals[0]
    problems += [
        f"{events[n]['event']} after the terminal event"
        for n, r in enumerate(roles)
        if n > end and r in {"piece", "replace", "progress"}
    ]
    finals = [n for n, r in enumerate(roles) if r == "final"]
    if finals and (len(finals) > 1 or finals[0] != len(roles) - 1 or finals[0] < end):
        problems.append(f"a final event is not the last event after the terminal one: {finals}")
    replaced = [n for n, r in enumerate(roles) if r == "replace"]
    if replaced and any(r == "piece" for r in roles[replaced[-1] :]):
        problems.append("a piece after the answer was replaced")
    return problems


def answer_of(events: list[dict[str, Any]]) -> str:
    """The answer a client shows: the pieces, in order, after the last replace."""
    answer = ""
    for e in events:
        if ROLES.get(e["event"]) == "piece":
            answer += e["answer"]
        elif ROLES.get(e["event"]) == "replace":
            answer = e["answer"]
    return answer


def history(client: CheckedClient, app: str, conversation_id: str, user: str = "u1") -> list[dict[str, Any]]:
    resp = client.get(f"/v1/messages?conversation_id={conversation_id}&user={user}", headers=auth(app))
    assert resp.status_code == 200, resp.json
    return resp.json["data"]


@pytest.mark.parametrize(("name", "query", "expected"), CASES, ids=IDS)
def test_each_mode_streams_its_events_in_the_order_the_roles_allow(client, name, query, expected) -> None:
    events = stream(client, name, query)  # CheckedClient: every event valid against its schema
    types = [e["event"] for e in events]
    assert expected <= set(types), types
    assert order_problems(events) == [], types
    for e in events:
        assert MODES[name] in SCHEMAS[e["event"]]["x-app-modes"], f"{e['event']} in a {MODES[name]} stream"
    message_ids = {e["message_id"] for e in events}
    assert len(message_ids) == 1 and len({e["conversation_id"] for e in events}) == 1
    if "workflow_finished" in types:  # chatflow: the run ends just before message_end
        assert types.index("workflow_finished") == types.index("message_end") - 1
        assert events[types.index("workflow_finished")]["data"]["status"] == "succeeded"
    if "tts_message" in types:  # audio interleaves with the text, its end is the very last event
        assert types[-1] == "tts_message_end"
        first_audio, end = types.index("tts_message"), types.index("message_end")
        assert first_audio < end and types.index("tts_message", end) > end


def test_the_workflow_runs_its_nodes_and_an_iteration(client) -> None:
    events = stream(client, "chatflow", "Who directed Die Hard?")
    run_ids = {e["workflow_run_id"] for e in events if "workflow_run_id" in e}
    assert len(run_ids) == 1
    started = [e["data"]["node_id"] for e in events if e["event"] == "node_started"]
    finished = [e["data"]["node_id"] for e in events if e["event"] == "node_finished"]
    assert sorted(started) == sorted(finished) and "summarise" in started and started[0] == "start"
    rounds = [e["data"]["index"] for e in events if e["event"] == "iteration_next"]
    inner = [e["data"] for e in events if e["event"] == "node_started" and e["data"].get("iteration_id")]
    assert rounds == [0, 1] and len(inner) == 2
    completed = next(e["data"] for e in events if e["event"] == "iteration_completed")
    assert completed["steps"] == 2 and len(completed["outputs"]["output"]) == 2
    types = [e["event"] for e in events]
    llm = [
        n
        for n, e in enumerate(events)
        if e["event"] in {"node_started", "node_finished"} and e["data"]["node_id"] == "llm"
    ]
    pieces = [n for n, t in enumerate(types) if t == "message"]
    assert llm[0] < pieces[0] and pieces[-1] < llm[1]  # the answer streams while its LLM node runs


def test_a_chatflow_run_reports_what_dify_1_12_reports(client) -> None:
    """The fields of chatflow/005-chat_streaming_new.json of the real Dify captures: the run's inputs
    with the `sys.*` variables, the node events' truncation flags, loop and agent fields, the pieces'
    variable, who ran it, and `message_end`'s files."""
    first = stream(client, "chatflow", "Who directed Die Hard?")
    conv = first[0]["conversation_id"]
    events = stream(client, "chatflow", "And the sequel?", conversation_id=conv)
    by = {e["event"]: e for e in events}
    inputs = by["workflow_started"]["data"]["inputs"]
    assert {k: inputs[k] for k in ("book", "myName", "tone", "notes")} == {
        "book": "Die Hard",
        "myName": None,
        "tone": "friendly",
        "notes": None,
    }
    assert inputs["sys.query"] == "And the sequel?" and inputs["sys.user_id"] == "u1"
    assert inputs["sys.dialogue_count"] == 2 and inputs["sys.files"] == []
    assert inputs["sys.workflow_run_id"] == by["workflow_started"]["workflow_run_id"]
    assert "sys.conversation_id" not in inputs
    finished_nodes = [e["data"] for e in events if e["event"] == "node_finished"]
    start = next(d for d in finished_nodes if d["node_type"] == "start")
    assert start["inputs"] == start["outputs"] and start["inputs"]["sys.conversation_id"] == conv
    for e in events:
        if e["event"] == "node_started":
            assert (e["data"]["inputs_truncated"], e["data"]["loop_id"], e["data"]["agent_strategy"]) == (
                False,
                None,
                None,
            )
        if e["event"] == "node_finished":
            data = e["data"]
            assert (data["inputs_truncated"], data["process_data_truncated"], data["outputs_truncated"]) == (
                False,
                False,
                False,
            )
            assert data["loop_id"] is None and "agent_strategy" not in data
    assert all(e["from_variable_selector"] == ["llm", "text"] for e in events if e["event"] == "message")
    finished = by["workflow_finished"]["data"]
    assert finished["created_by"]["user"] == "u1" and finished["exceptions_count"] == 0
    assert finished["outputs"]["files"] == []
    assert by["message_end"]["files"] == [] and by["message_end"]["metadata"]["annotation_reply"] is None


@pytest.mark.parametrize(
    ("name", "query", "expected"),
    [c for c in CASES if c[0] != "agent"],
    ids=[i for i, c in zip(IDS, CASES, strict=True) if c[0] != "agent"],
)
def test_blocking_answer_is_the_streamed_answer(client, name, query, expected) -> None:
    events = stream(client, name, query)
    resp = client.post(
        "/v1/chat-messages", headers=auth(name), json={"inputs": INPUTS, "query": query, "user": "u1"}
    )
    assert resp.status_code == 200
    body = resp.json
    assert body["mode"] == MODES[name]
    assert body["answer"] == answer_of(events)
    end = next(e for e in events if e["event"] == "message_end")
    assert body["metadata"]["usage"]["total_tokens"] == end["metadata"]["usage"]["total_tokens"]


def test_agent_apps_refuse_blocking_mode_as_real_servers(client) -> None:
    resp = client.post(
        "/v1/chat-messages", headers=auth("agent"), json={"inputs": INPUTS, "query": "hi", "user": "u1"}
    )
    assert resp.status_code == 400
    assert resp.json == {
        "code": "invalid_param",
        "message": "Agent Chat App does not support blocking mode",
        "status": 400,
    }


@pytest.mark.parametrize(("name", "query", "expected"), CASES, ids=IDS)
def test_history_is_what_the_stream_said(client, name, query, expected) -> None:
    events = stream(client, name, query)
    [item] = history(client, name, events[0]["conversation_id"])
    assert item["id"] == events[0]["message_id"] and item["answer"] == answer_of(events)
    # agent thoughts: the last version of each thought the stream sent, in position order
    thoughts: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["event"] == "agent_thought":
            thoughts[e["id"]] = e
    want = sorted(thoughts.values(), key=lambda t: t["position"])
    got = item["agent_thoughts"]
    assert [t["id"] for t in got] == [t["id"] for t in want]
    for h, s in zip(got, want, strict=True):
        assert (h["position"], h["thought"], h["tool"], h["tool_input"], h["observation"], h["files"]) == (
            s["position"],
            s["thought"],
            s["tool"],
            s["tool_input"],
            s["observation"],
            s["message_files"],
        )
    if want:
        assert want[-1]["thought"] == item["answer"] and want[-1]["tool"] == ""
        assert all(json.loads(t["tool_input"]) for t in want[:-1])  # JSON text
    # files the answer produced
    files = [e for e in events if e["event"] == "message_file"]
    assistant = [f for f in item["message_files"] if f["belongs_to"] == "assistant"]
    assert [f["id"] for f in assistant] == [f["id"] for f in files]
    assert all(f["transfer_method"] == "tool_file" and f["type"] == "image" for f in assistant)


def test_a_produced_file_is_served_at_its_url(client) -> None:
    events = stream(client, "agent", POSTER)
    [file_event] = [e for e in events if e["event"] == "message_file"]
    thought = [e for e in events if e["event"] == "agent_thought" and e["message_files"]][-1]
    assert thought["message_files"] == [file_event["id"]]
    url = urlsplit(file_event["url"])
    resp = client.client.get(f"{url.path}?{url.query}")
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_spoken_answer_is_real_mp3_and_the_text_to_audio_of_the_message(client) -> None:
    events = stream(client, "voice", "Can you explain why?")
    chunks = [base64.b64decode(e["audio"], validate=True) for e in events if e["event"] == "tts_message"]
    assert all(mp3_frames(c) > 0 for c in chunks)  # each chunk is whole frames: playable as it comes
    audio = b"".join(chunks)
    words = len(answer_of(events).split())
    assert mp3_frames(audio) == 7 * words + 2 * 8  # one tone per word, a silence either side
    resp = client.post(
        "/v1/text-to-audio",
        headers={**auth("voice"), "Accept": "audio/mpeg"},
        json={"message_id": events[0]["message_id"], "user": "u1"},
    )
    assert resp.status_code == 200 and resp.mimetype == "audio/mpeg" and resp.data == audio


def test_apps_without_auto_play_send_no_audio(client) -> None:
    for app in ("chat", "agent", "chatflow"):
        types = {e["event"] for e in stream(client, app, "Who directed Die Hard?")}
        assert not types & {"tts_message", "tts_message_end"}, app


def test_each_key_has_its_app_s_parameters(client) -> None:
    seen = {}
    for app in KEYS:
        resp = client.get("/v1/parameters", headers=auth(app))
        seen[app] = resp.json
    assert seen["voice"]["text_to_speech"]["autoPlay"] == "enabled"
    assert "autoPlay" not in seen["chat"]["text_to_speech"]  # never set: Dify leaves it out (chat-app/000)
    assert len({p["opening_statement"] for p in seen.values()}) == len(KEYS)

    def variables(params: dict[str, Any]) -> list[tuple[str, str, bool]]:
        form = params["user_input_form"]
        return [(kind, c["variable"], c["required"]) for item in form for kind, c in item.items()]

    assert all(variables(p) == variables(seen["chat"]) for p in seen.values())  # one form (layered)
    flow = [c for item in seen["chatflow"]["user_input_form"] for c in item.values()]
    assert all("type" in c and "options" in c for c in flow)  # as a chatflow's Start node answers them


def test_conversations_are_per_app(client) -> None:
    events = stream(client, "agent", "Who directed Die Hard?", user="shared-user")
    conv = events[0]["conversation_id"]
    other = client.get(f"/v1/messages?conversation_id={conv}&user=shared-user", headers=auth("chat"))
    assert other.status_code == 404
    listed = client.get("/v1/conversations?user=shared-user", headers=auth("chatflow")).json["data"]
    assert conv not in {c["id"] for c in listed}
    resp = client.post(
        "/v1/chat-messages",
        headers=auth("chat"),
        json={"inputs": INPUTS, "query": "hi", "user": "shared-user", "conversation_id": conv},
    )
    assert resp.status_code == 404


def test_a_failed_chatflow_run_ends_with_workflow_finished_then_error(client) -> None:
    events = stream(client, "chatflow", "Who directed Die Hard?", headers={"X-Mock-Fault": "error_after=16"})
    types = [e["event"] for e in events]
    assert types[-2:] == ["workflow_finished", "error"]
    assert events[-2]["data"]["status"] == "failed" and order_problems(events) == []


def test_a_key_given_on_its_own_is_the_default_chat_app(make_app) -> None:
    client = CheckedClient(make_app(api_keys=["app-custom"]))
    resp = client.post(
        "/v1/chat-messages",
        headers={"Authorization": "Bearer app-custom"},
        json={"inputs": INPUTS, "query": "hi", "user": "u1"},
    )
    assert resp.json["mode"] == "chat"
    assert client.get("/v1/parameters", headers=auth("agent")).status_code == 401


def test_a_key_can_be_bound_to_an_app(make_app) -> None:
    client = CheckedClient(make_app(api_keys=["app-custom"], app_bindings={"app-mine": "chatflow"}))
    events = stream(client, "chat", "hi", headers={"Authorization": "Bearer app-mine"})
    assert events[0]["event"] == "workflow_started"


def test_the_2023_era_serves_every_key_as_the_plain_chat_app(make_app) -> None:
    client = make_app(era="2023").test_client()
    for app in KEYS:
        body = {"inputs": INPUTS, "query": POSTER, "user": "u1", "response_mode": "streaming"}
        resp = client.post("/v1/chat-messages", headers=auth(app), json=body)
        types = {
            json.loads(e["data"])["event"] for e in parse_sse(resp.get_data(as_text=True)) if "data" in e
        }
        assert types == {"message", "message_end"}, app


def test_a_2023_message_end_has_no_files(make_app) -> None:
    """The 2023 documents' `message_end` has no `files` (today's has: K10); the era's contract says
    which, and the mock sends what its era's has."""
    old = make_app(era="2023").test_client()
    body = {"inputs": INPUTS, "query": POSTER, "user": "u1", "response_mode": "streaming"}
    resp = old.post("/v1/chat-messages", headers=auth("chat"), json=body)
    ends = [json.loads(e["data"]) for e in parse_sse(resp.get_data(as_text=True)) if "data" in e]
    assert ends[-1]["event"] == "message_end" and "files" not in ends[-1]
    today = stream(CheckedClient(make_app()), "chat", POSTER)
    assert today[-1]["event"] == "message_end" and "files" in today[-1]


def test_app_files_are_valid_yaml_with_a_key_each() -> None:
    folder = Path(__file__).resolve().parents[2] / "fixtures" / "apps"
    docs = {p.stem: yaml.safe_load(p.read_text()) for p in folder.glob("*.yaml")}
    assert {name: doc["key"] for name, doc in docs.items()} == KEYS


@pytest.mark.parametrize("name", ["chatflow", "voice"])
def test_a_stopped_answer_closes_its_run_and_its_audio(make_app, name: str) -> None:
    app = make_app(token_interval_ms=20)
    body = {
        "inputs": INPUTS,
        "query": "Tell me the plot of Die Hard",
        "user": "s1",
        "response_mode": "streaming",
    }
    resp = app.test_client().post("/v1/chat-messages", headers=auth(name), json=body, buffered=False)
    frames = iter(resp.response)
    first: list[bytes] = []
    while sum(b'"event":"message"' in f for f in first) < 3:  # three pieces in, stop
        first.append(next(frames))
    task_id = json.loads(first[0][6:])["task_id"]
    stop = CheckedClient(app).post(
        f"/v1/chat-messages/{task_id}/stop", headers=auth(name), json={"user": "s1"}
    )
    assert stop.json == {"result": "success"}
    events = [json.loads(f[6:]) for f in first + list(frames) if f.startswith(b"data: ")]
    types = [e["event"] for e in events]
    assert order_problems(events) == [] and "message_end" in types
    if name == "chatflow":
        assert types[-2:] == ["workflow_finished", "message_end"]
        assert events[-2]["data"]["status"] == "stopped"
    else:  # no audio after the stop, but the audio still ends
        assert types[-1] == "tts_message_end" and types[types.index("message_end") + 1 :] == [
            "tts_message_end"
        ]
    pieces = [e["answer"] for e in events if e["event"] == "message"]
    assert 0 < len(pieces) < 100  # the whole answer has about 120
    [item] = history(CheckedClient(app), name, events[0]["conversation_id"], user="s1")
    assert item["answer"] == "".join(pieces)


def test_a_stopped_agent_answer_keeps_what_was_sent_in_its_last_thought(make_app) -> None:
    app = make_app(token_interval_ms=20)
    body = {
        "inputs": INPUTS,
        "query": "Tell me the plot of Die Hard",
        "user": "s1",
        "response_mode": "streaming",
    }
    resp = app.test_client().post("/v1/chat-messages", headers=auth("agent"), json=body, buffered=False)
    frames = iter(resp.response)
    first: list[bytes] = []
    while sum(b'"event":"agent_message"' in f for f in first) < 3:
        first.append(next(frames))
    task_id = json.loads(first[0][6:])["task_id"]
    CheckedClient(app).post(f"/v1/chat-messages/{task_id}/stop", headers=auth("agent"), json={"user": "s1"})
    events = [json.loads(f[6:]) for f in first + list(frames) if f.startswith(b"data: ")]
    assert events[-1]["event"] == "message_end"
    [item] = history(CheckedClient(app), "agent", events[0]["conversation_id"], user="s1")
    assert item["answer"] == answer_of(events) and 0 < len(item["answer"]) < 300
    assert item["agent_thoughts"][-1]["thought"] == item["answer"]
    assert item["agent_thoughts"][0]["tool"] == "film_search"


# ---------------------------------------------------------------- Dify 1.12.1's easy-UI pipeline fields


def test_chat_pieces_name_no_variable_and_agent_pieces_have_no_such_field(client) -> None:
    """A chat app's `message` carries `from_variable_selector` as null (Dify's message event,
    which only a workflow's answer fills); an agent's `agent_message` has no such field."""
    chat = [e for e in stream(client, "chat", "Which movie is the best?") if e["event"] == "message"]
    assert chat and all("from_variable_selector" in e and e["from_variable_selector"] is None for e in chat)
    agent = [e for e in stream(client, "agent", "Who directed Die Hard?") if e["event"] == "agent_message"]
    assert agent and all("from_variable_selector" not in e for e in agent)


def test_a_chat_app_s_moderation_replacement_names_no_reason(client) -> None:
    """Dify's easy-UI pipeline sends `message_replace` with its default `reason`, the empty string."""
    replaced = [
        e for e in stream(client, "chat", "How does Die Hard end?") if e["event"] == "message_replace"
    ]
    assert [e["reason"] for e in replaced] == [""]


def test_message_end_files_are_the_message_s_in_chat_and_agent_apps(client) -> None:
    """Chat and agent apps list every file of the message in `message_end.files` (the user's, then
    the answer's), null when it has none; a chatflow lists its answer's files ([] when none)."""
    assert stream(client, "chat", "Which movie is the best?")[-1]["files"] is None
    assert stream(client, "agent", "Who directed Die Hard?")[-1]["files"] is None
    assert stream(client, "chatflow", "Who directed Die Hard?")[-1]["files"] == []
    upload = client.post(
        "/v1/files/upload",
        headers=auth("chat"),
        data={"user": "u1", "file": (io.BytesIO(tiny_png()), "still.png", "image/png")},
        content_type="multipart/form-data",
    ).get_json()
    attached = {"type": "image", "transfer_method": "local_file", "upload_file_id": upload["id"]}
    events = stream(client, "chat", POSTER, files=[attached])
    made = next(e for e in events if e["event"] == "message_file")
    end = events[-1]
    assert end["event"] == "message_end"
    mine, produced = end["files"]
    assert (mine["upload_file_id"], mine["filename"], mine["extension"], mine["transfer_method"]) == (
        upload["id"],
        "still.png",
        ".png",
        "local_file",
    )
    assert (mine["size"], mine["mime_type"], mine["remote_url"]) == (upload["size"], "image/png", "")
    assert (produced["related_id"], produced["url"], produced["transfer_method"]) == (
        made["id"],
        made["url"],
        "tool_file",
    )
    assert produced["upload_file_id"] == made["id"] and produced["filename"].endswith(".png")
    agent_end = stream(client, "agent", POSTER)[-1]
    assert [f["transfer_method"] for f in agent_end["files"]] == ["tool_file"]
