"""The real Python client (dify-client 0.1.10), unchanged, against a live mock server."""

from __future__ import annotations

import json

import pytest
from dify_client import ChatClient

from tests.mock.conftest import KEY
from tests.mock.contract_check import check_requests_response


@pytest.fixture
def dify(live_server, monkeypatch) -> ChatClient:
    import dify_client.client as module

    real_request = module.requests.request

    def checked_request(*args, **kwargs):  # every response the client gets is checked too
        return check_requests_response(real_request(*args, **kwargs))

    monkeypatch.setattr(module.requests, "request", checked_request)
    client = ChatClient(KEY)
    client.base_url = live_server(ping_interval_s=10.0) + "/v1"
    return client


def test_dify_client_full_session(dify: ChatClient) -> None:
    user = "dify-user"
    params = dify.get_application_parameters(user).json()
    assert [next(iter(c)) for c in params["user_input_form"]][:2] == ["text-input", "text-input"]

    first = dify.create_chat_message({"book": "Die Hard"}, "Which movie is the best?", user)
    assert first.status_code == 200
    body = first.json()
    assert body["answer"] == "It's Die Hard for sure."
    conv = body["conversation_id"]

    stream = dify.create_chat_message(
        {}, "Can you explain why?", user, response_mode="streaming", conversation_id=conv
    )
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    frames = [
        json.loads(line[6:])
        for line in stream.iter_lines(decode_unicode=True)
        if line and line.startswith("data: ")
    ]
    assert frames[-1]["event"] == "message_end"
    streamed = "".join(f["answer"] for f in frames if f["event"] == "message")
    assert streamed.startswith("As an AI")

    history = dify.get_conversation_messages(user, conv).json()
    assert [m["answer"] for m in history["data"]] == [body["answer"], streamed]
    older = dify.get_conversation_messages(user, conv, first_id=history["data"][1]["id"], limit=1).json()
    assert [m["id"] for m in older["data"]] == [history["data"][0]["id"]]

    convs = dify.get_conversations(user).json()
    assert [c["id"] for c in convs["data"]] == [conv]
    renamed = dify.rename_conversation(conv, "Die Hard talk", user).json()
    assert renamed["name"] == "Die Hard talk"
    assert dify.get_conversations(user, limit=1).json()["data"][0]["name"] == "Die Hard talk"

    assert dify.message_feedback(body["id"], "like", user).json() == {"result": "success"}
    rated = dify.get_conversation_messages(user, conv).json()["data"][0]
    assert rated["feedback"] == {"rating": "like"}


def test_dify_client_errors_are_envelopes(dify: ChatClient) -> None:
    missing = dify.create_chat_message({}, "hello", "u2")
    assert missing.status_code == 400 and missing.json()["message"].startswith("inputs.book:")
    foreign = dify.get_conversation_messages("u2", "45701982-8118-4bc5-8e9b-64562b4555f2")
    assert foreign.status_code == 404 and foreign.json()["message"] == "Conversation Not Exists."
    dify.api_key = "app-wrong"
    assert dify.get_application_parameters("u2").status_code == 401
