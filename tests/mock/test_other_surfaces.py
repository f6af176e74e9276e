"""Conversational (HF) and chat completions: the same engine, each surface's envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.contract import parse_sse
from tests.mock.conftest import AUTH, chat

STREAMS = Path(__file__).resolve().parents[2] / "fixtures" / "streams"
HF = "/models/microsoft/DialoGPT-large"
COMPLETIONS = "/v1/chat/completions"


def _chunks(resp) -> list:
    return [
        e["data"] if e["data"] == "[DONE]" else json.loads(e["data"])
        for e in parse_sse(resp.get_data(as_text=True))
    ]


def test_all_surfaces_give_the_same_answer_for_the_same_last_user_message(client) -> None:
    query = "Who directed Die Hard?"
    chat_app = chat(client, query).json["answer"]
    hf = client.post(HF, headers=AUTH, json={"inputs": {"text": query}}).json
    oa = client.post(
        COMPLETIONS,
        headers=AUTH,
        json={
            "model": "gpt-4",
            "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": query}],
        },
    ).json
    assert chat_app == hf["generated_text"] == oa["choices"][0]["message"]["content"]
    fallback = "What is the capital of France?"
    assert (
        chat(client, fallback).json["answer"]
        == client.post(HF, headers=AUTH, json={"inputs": {"text": fallback}}).json["generated_text"]
    )


def test_conversational_appends_the_new_turn_once(client) -> None:
    body = {
        "inputs": {
            "past_user_inputs": ["Which movie is the best?"],
            "generated_responses": ["It's Die Hard for sure."],
            "text": "Can you explain why?",
        }
    }
    resp = client.post(HF, headers=AUTH, json=body).json
    assert resp["conversation"]["past_user_inputs"] == ["Which movie is the best?", "Can you explain why?"]
    assert resp["conversation"]["generated_responses"] == ["It's Die Hard for sure.", resp["generated_text"]]
    assert resp["generated_text"].startswith("As an AI")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (
            {"inputs": {"text": "x", "past_user_inputs": ["a"], "generated_responses": []}},
            "generated_responses",
        ),
        ({"inputs": {}}, "inputs.text"),
        ({"inputs": {"text": "x"}, "parameters": {"temperature": 101}}, "parameters.temperature"),
        (
            {"inputs": {"text": "x"}, "parameters": {"min_length": 10, "max_length": 5}},
            "parameters.max_length",
        ),
        ({}, "inputs"),
    ],
)
def test_conversational_errors_are_hf_envelopes(client, body, needle) -> None:
    resp = client.post(HF, headers=AUTH, json=body)
    assert resp.status_code == 400
    error = resp.json["error"]
    text = error[0] if isinstance(error, list) else error
    assert text.startswith(needle)


def test_conversational_bad_model_path_is_404(client) -> None:
    resp = client.post("/models/micro$oft/x", headers=AUTH, json={"inputs": {"text": "x"}})
    assert resp.status_code == 404 and "error" in resp.json


def test_completion_blocking_shape(client) -> None:
    resp = client.post(
        COMPLETIONS,
        headers=AUTH,
        json={
            "model": "gpt-4",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Which movie is the best?"}]}],
        },
    ).json
    golden = json.loads((STREAMS / "die-hard.completions.json").read_text())
    assert resp["id"].startswith("chatcmpl-") and resp["object"] == "chat.completion"
    assert resp["choices"] == golden["choices"]
    assert resp["usage"] == golden["usage"]


@pytest.mark.parametrize("golden", ["die-hard.completions.sse", "die-hard.completions-usage.sse"])
def test_completion_stream_matches_golden(client, golden) -> None:
    body = {
        "model": "gpt-4",
        "messages": [{"role": "user", "content": "Which movie is the best?"}],
        "stream": True,
    }
    if "usage" in golden:
        body["stream_options"] = {"include_usage": True}
    got = _chunks(client.post(COMPLETIONS, headers=AUTH, json=body))
    want = [
        e["data"] if e["data"] == "[DONE]" else json.loads(e["data"])
        for e in parse_sse((STREAMS / golden).read_text())
    ]
    strip = lambda c: c if c == "[DONE]" else {k: v for k, v in c.items() if k not in {"id", "created"}}  # noqa: E731
    assert [strip(c) for c in got] == [strip(c) for c in want]
    assert len({c["id"] for c in got if c != "[DONE]"}) == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": 3}, "temperature"),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
    ],
)
def test_completion_errors_name_the_param(client, body, param) -> None:
    resp = client.post(COMPLETIONS, headers=AUTH, json=body)
    assert resp.status_code == 400
    assert resp.json["error"]["param"] == param
    assert resp.json["error"]["type"] == "invalid_request_error"


def test_completion_non_json_is_415(client) -> None:
    resp = client.post(COMPLETIONS, headers=AUTH, data="x", content_type="text/plain")
    assert resp.status_code == 415 and set(resp.json["error"]) == {"message", "type", "param", "code"}


def test_completion_without_a_user_message_is_answered(client) -> None:
    """The contract allows a system-only conversation (as OpenAI does): no invented 400."""
    body = {"model": "m", "messages": [{"role": "system", "content": "Be brief."}]}
    r = client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert r.status_code == 200
    assert r.json["choices"][0]["message"]["content"]
