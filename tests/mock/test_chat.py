"""POST /chat-messages: canned answers, blocking and streaming, conversations, input form."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mock_server.engine import Engine
from tests.mock.conftest import AUTH, SEEDED_CONVERSATION, SEEDED_USER, chat, events
from tests.mock.contract_check import CheckedClient

ANSWERS = yaml.safe_load((Path(__file__).resolve().parents[2] / "fixtures" / "answers.yaml").read_text())


def test_blocking_answer_is_the_canned_answer(client) -> None:
    resp = chat(client, "Which movie is the best?")
    assert resp.status_code == 200
    body = resp.json
    assert body["answer"] == "It's Die Hard for sure."
    assert body["event"] == "message" and body["mode"] == "chat"
    assert body["id"] == body["message_id"]
    assert body["metadata"]["usage"] == {
        "prompt_tokens": 5,
        "prompt_unit_price": "0.001",
        "prompt_price_unit": "0.001",
        "prompt_price": "0.0000050",
        "completion_tokens": 5,
        "completion_unit_price": "0.002",
        "completion_price_unit": "0.001",
        "completion_price": "0.0000100",
        "total_tokens": 10,
        "total_price": "0.0000150",
        "currency": "USD",
        "latency": 0.0,
        "time_to_first_token": 0.0,
        "time_to_generate": 0.0,
    }
    assert body["metadata"]["annotation_reply"] is None  # no annotation answered


def test_usage_latency_is_the_planned_duration_at_the_request_pacing(client) -> None:
    pacing = {"X-Mock-TTFT-Ms": "300", "X-Mock-Token-Interval-Ms": "50"}
    resp = chat(client, "Which movie is the best?", headers=pacing)
    usage = resp.json["metadata"]["usage"]
    assert usage["latency"] == 0.5  # 300 ms + 4 intervals of 50 ms, 5 pieces
    assert (usage["time_to_first_token"], usage["time_to_generate"]) == (0.3, 0.2)  # its two parts


def test_history_items_carry_todays_fields(client) -> None:
    body = chat(client, "Which movie is the best?").json
    items = client.get(f"/v1/messages?conversation_id={body['conversation_id']}&user=u1", headers=AUTH).json[
        "data"
    ]
    fields = ("message_files", "agent_thoughts", "retriever_resources", "status", "error")
    assert [items[0][k] for k in fields] == [[], [], [], "normal", None]
    assert items[0]["parent_message_id"] == "00000000-0000-0000-0000-000000000000"


def test_match_is_strip_casefold_only(client) -> None:
    assert chat(client, "  WHICH MOVIE IS THE BEST?  ").json["answer"] == "It's Die Hard for sure."
    # a space before "?" does not match (answers.yaml), the fallback answers instead
    assert chat(client, "Which movie is the best ?").json["answer"] != "It's Die Hard for sure."


@pytest.mark.parametrize("example", ANSWERS["fallback"]["examples"], ids=lambda e: e["query"])
def test_fallback_follows_the_test_vectors(client, example) -> None:
    expected = ANSWERS["fallback"]["answers"][example["index"]]
    assert chat(client, example["query"]).json["answer"] == expected


def test_stream_pieces_concatenate_to_the_answer_and_history(client) -> None:
    resp = chat(client, "List three Christmas action movies", response_mode="streaming")
    assert resp.mimetype == "text/event-stream"
    evs = events(resp)
    pieces = [e for e in evs if e["event"] == "message"]
    assert len(pieces) > 3
    assert evs[-1]["event"] == "message_end" and evs[:-1] == pieces  # exactly one terminal event, last
    for key in ("id", "conversation_id", "created_at", "task_id"):
        assert len({p[key] for p in pieces}) == 1
    answer = "".join(p["answer"] for p in pieces)
    assert answer == ANSWERS["answers"][7]["answer"]
    assert answer.endswith("\n")
    history = client.get(f"/v1/messages?conversation_id={pieces[0]['conversation_id']}&user=u1", headers=AUTH)
    assert history.json["data"][-1]["answer"] == answer
    assert evs[-1]["metadata"]["usage"]["completion_tokens"] == len(pieces)


def test_stream_frames_are_written_whole(app) -> None:
    """The body iterator yields exactly one complete frame per item (one write per frame)."""
    resp = app.test_client().post(
        "/v1/chat-messages",
        headers=AUTH,
        buffered=False,
        json={"inputs": {"book": "x"}, "query": "hello", "user": "u1", "response_mode": "streaming"},
    )
    items = list(resp.response)
    assert len(items) == 9
    for item in items:
        assert item.startswith(b"data: {") and item.endswith(b"}\n\n") and item.count(b"\n\n") == 1


def test_stream_matches_the_golden_stream_shape(client) -> None:
    golden = (Path(__file__).resolve().parents[2] / "fixtures" / "streams" / "die-hard.chat.sse").read_text()
    import json

    from tests.contract import parse_sse

    want = [json.loads(e["data"]) for e in parse_sse(golden)]
    got = events(chat(client, "Which movie is the best?", response_mode="streaming"))
    assert [(e["event"], e.get("answer")) for e in got] == [(e["event"], e.get("answer")) for e in want]
    assert [list(e) for e in got] == [list(e) for e in want]
    assert got[-1]["metadata"] == want[-1]["metadata"]


def test_new_conversation_then_continue(client) -> None:
    first = chat(client, "hello", user="nc").json
    conv = client.get("/v1/conversations?user=nc", headers=AUTH).json["data"]
    assert [c["id"] for c in conv] == [first["conversation_id"]]
    assert conv[0]["name"] == "hello"  # today auto_generate_name defaults to true
    assert conv[0]["inputs"]["book"] == "Die Hard" and conv[0]["inputs"]["tone"] == "friendly"
    assert conv[0]["introduction"] == "Nice to meet you! Ask me about films."
    second = chat(
        client, "Who directed Die Hard?", user="nc", conversation_id=first["conversation_id"], inputs={}
    ).json
    assert second["conversation_id"] == first["conversation_id"]
    history = client.get(
        f"/v1/messages?conversation_id={first['conversation_id']}&user=nc", headers=AUTH
    ).json
    assert [m["query"] for m in history["data"]] == ["hello", "Who directed Die Hard?"]
    assert history["data"][1]["inputs"]["book"] == "Die Hard"  # the stored inputs are used


def test_continuing_bumps_updated_at(client) -> None:
    before = {
        c["id"]: c
        for c in client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    }
    chat(client, "hello", user=SEEDED_USER, conversation_id=SEEDED_CONVERSATION)
    after = client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
    assert after[0]["id"] == SEEDED_CONVERSATION
    assert after[0]["updated_at"] > before[SEEDED_CONVERSATION]["updated_at"]


def test_auto_generate_name(client) -> None:
    body = chat(
        client, "Tell me the plot of Die Hard and of its sequels please", user="ag", auto_generate_name=True
    ).json
    conv = client.get("/v1/conversations?user=ag", headers=AUTH).json["data"][0]
    assert conv["id"] == body["conversation_id"]
    assert conv["name"].startswith("Tell me the plot") and len(conv["name"]) <= 40


@pytest.mark.parametrize(
    ("inputs", "variable"),
    [
        ({}, "book"),
        ({"book": ""}, "book"),
        ({"book": "x" * 49}, "book"),
        ({"book": "x", "myName": "y" * 33}, "myName"),
        ({"book": "x", "tone": "angry"}, "tone"),
        ({"book": "x", "notes": 5}, "notes"),
    ],
)
def test_inputs_are_checked_against_the_form(client, inputs, variable) -> None:
    resp = chat(client, "hello", inputs=inputs)
    assert resp.status_code == 400
    assert resp.json["code"] == "invalid_param"
    assert resp.json["message"].startswith(f"inputs.{variable}:")


def test_inputs_at_the_limits_pass(client) -> None:
    assert (
        chat(client, "hello", inputs={"book": "x" * 48, "myName": "y" * 32, "tone": "pirate"}).status_code
        == 200
    )


@pytest.mark.parametrize("conv", ["3f1b8a1e-0000-4000-8000-000000000000", SEEDED_CONVERSATION])
def test_unknown_or_foreign_conversation_is_404(client, conv) -> None:
    resp = chat(client, "hello", user="intruder", conversation_id=conv)
    assert resp.status_code == 404
    assert resp.json == {"code": "not_found", "message": "Conversation Not Exists.", "status": 404}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"inputs": {}, "user": "u"}, "query"),
        ({"inputs": {}, "query": "", "user": "u"}, "query"),
        ({"query": "q", "user": "u"}, "inputs"),
        ({"inputs": {}, "query": "q"}, "user"),
        ({"inputs": {}, "query": "q", "user": "u", "response_mode": "fast"}, "response_mode"),
        ({"inputs": {}, "query": "q", "user": "u", "conversation_id": "nope"}, "conversation_id"),
        ({"inputs": [], "query": "q", "user": "u"}, "inputs"),
    ],
)
def test_request_schema_errors_name_the_field(client, body, field) -> None:
    resp = client.post("/v1/chat-messages", headers=AUTH, json=body)
    assert resp.status_code == 400
    assert resp.json["code"] == "invalid_param"
    assert resp.json["message"].split(":")[0] == field


def test_unknown_fields_are_allowed(client) -> None:
    assert chat(client, "hello", files=None, something_new={"a": 1}).status_code == 200


def test_body_content_type_and_json_errors(client) -> None:
    resp = client.post("/v1/chat-messages", headers=AUTH, data="query=x", content_type="text/plain")
    assert resp.status_code == 415 and resp.json["status"] == 415
    resp = client.post("/v1/chat-messages", headers=AUTH, data="{bad", content_type="application/json")
    assert resp.status_code == 400 and resp.json["message"].startswith("body:")
    # a body that is no JSON at all is Flask's bad_request on Dify (chatflow-features-on/015)
    assert resp.json["code"] == "bad_request"
    nan_body = '{"query": NaN}'
    nan = client.post("/v1/chat-messages", headers=AUTH, data=nan_body, content_type="application/json")
    assert (nan.status_code, nan.json["code"]) == (400, "invalid_param")  # JSON, refused by the mock (M16)
    resp = client.post("/v1/chat-messages", headers=AUTH, data="", content_type="application/json")
    assert resp.status_code == 400
    resp = client.post("/v1/chat-messages", headers=AUTH)
    assert resp.status_code == 400


def test_engine_pieces_always_rebuild_the_answer() -> None:
    engine = Engine(ANSWERS)
    for entry in ANSWERS["answers"]:
        assert "".join(engine.pieces(entry["answer"])) == entry["answer"]
    assert Engine({"tokenizer": "x"}).pieces("abc") == ["abc"]  # a lossy tokenizer is not used
    with pytest.raises(ValueError):
        Engine({"match": "fuzzy"})


def test_conversation_names_by_era(make_app) -> None:
    today, old = CheckedClient(make_app()), CheckedClient(make_app(era="2023"))
    for client, user, default_name in (
        (today, "names-today", "Which film has the best car chase?"),
        (old, "names-2023", "New conversation"),
    ):
        chat(client, "Which film has the best car chase?", user=user)
        chat(client, "What about boats?", user=user, auto_generate_name=False)
        chat(client, "And trains?", user=user, auto_generate_name=True)
        names = [c["name"] for c in client.get(f"/v1/conversations?user={user}", headers=AUTH).json["data"]]
        assert names == ["And trains?", "New conversation", default_name]


def test_undeclared_inputs_are_dropped_not_refused(client) -> None:
    first = chat(client, "hello", user="undeclared", inputs={"book": "Heat", "colour": "red"})
    assert first.status_code == 200
    conv = client.get("/v1/conversations?user=undeclared", headers=AUTH).json["data"][0]
    assert "colour" not in conv["inputs"] and conv["inputs"]["book"] == "Heat"


def test_inputs_list_every_variable_of_the_form_null_where_unset(client) -> None:
    """Real Dify answers every form variable in a conversation's and a message's inputs, the default
    where it has one and null where unset (chatflow/031-conversations.json of the captures)."""
    body = chat(client, "hello", user="every-input", inputs={"book": "Heat"}).json
    expected = {"book": "Heat", "myName": None, "tone": "friendly", "notes": None}
    conv = client.get("/v1/conversations?user=every-input", headers=AUTH).json["data"][0]
    assert conv["inputs"] == expected
    rename = {"name": "x", "user": "every-input"}
    renamed = client.post(f"/v1/conversations/{body['conversation_id']}/name", headers=AUTH, json=rename).json
    assert renamed["inputs"] == expected
    history = client.get(
        f"/v1/messages?conversation_id={body['conversation_id']}&user=every-input", headers=AUTH
    ).json["data"]
    assert history[0]["inputs"] == expected
    assert list(conv["inputs"]) == ["book", "myName", "tone", "notes"]  # the form's order


def test_seeded_inputs_list_every_variable_of_the_form(client) -> None:
    conv = next(
        c
        for c in client.get(f"/v1/conversations?user={SEEDED_USER}&limit=100", headers=AUTH).json["data"]
        if c["id"] == SEEDED_CONVERSATION
    )
    assert conv["inputs"] == {"book": "Die Hard", "myName": "Lucy", "tone": "friendly", "notes": None}


def test_conversations_of_one_second_list_newest_first(client) -> None:
    ids = [chat(client, f"Question {n}?", user="burst").json["conversation_id"] for n in range(6)]
    listed = client.get("/v1/conversations?user=burst&limit=3", headers=AUTH).json
    rest = client.get(
        f"/v1/conversations?user=burst&limit=3&last_id={listed['data'][-1]['id']}", headers=AUTH
    )
    assert [c["id"] for c in listed["data"] + rest.json["data"]] == ids[::-1]
    for sort_by, wanted in (("created_at", ids), ("-created_at", ids[::-1]), ("updated_at", ids)):
        page = client.get(f"/v1/conversations?user=burst&limit=4&sort_by={sort_by}", headers=AUTH).json
        after = page["data"][-1]["id"]
        more = client.get(
            f"/v1/conversations?user=burst&sort_by={sort_by}&last_id={after}", headers=AUTH
        ).json
        assert [c["id"] for c in page["data"] + more["data"]] == wanted, sort_by
    assert client.get("/v1/conversations?user=burst&sort_by=name", headers=AUTH).status_code == 400


def test_a_stream_yields_before_its_set_up_holding_no_database_connection(client, monkeypatch) -> None:
    import time

    from flask import g

    from mock_server.handlers import chat as chat_handler

    real_sleep = time.sleep
    yields: list[bool] = []  # per yield of the chat handler: was a pooled connection held?

    def sleep(seconds: float) -> None:
        if seconds == 0:
            yields.append(g.get("chat_mock_db") is not None)
        real_sleep(seconds)

    monkeypatch.setattr(chat_handler.time, "sleep", sleep)
    resp = chat(client, "hello", response_mode="streaming")
    assert events(resp)[-1]["event"] == "message_end"  # and the stream is whole after it
    # the set-up's yield, then the group commit's (store.GroupCommit.write), neither holding one
    assert yields == [False, False]
    chat(client, "hello")  # a blocking answer yields for its group commit alone
    assert yields == [False, False, False]
