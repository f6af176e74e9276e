"""Payload conversions against the golden cases in fixtures/conversions/pipeline_cases.json, plus the
rules each conversion enforces and property-based round trips."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payload_conversions import (
    ConversionError,
    chat_completion_request,
    chat_completion_to_conversational,
    chat_messages_to_conversational,
    chunks_to_conversational,
    conversational_to_chat_messages,
    parse_message_tags,
    render_fstring,
    render_handlebars,
    run_pipeline,
    template_variables,
)
from payload_conversions.builtin_templates import BUILTIN_TEMPLATES, builtin_template
from payload_conversions.streaming import parse_sse, read_chat_completion
from tests.contract import component

CASES_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "conversions" / "pipeline_cases.json"
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]
RENDER = {"handlebars": render_handlebars, "fstring": render_fstring}


def cases(kind: str) -> list[Any]:
    return [pytest.param(c, id=c["name"]) for c in CASES if c["kind"] == kind]


def full_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": inputs["text"],
        "past_user_inputs": inputs.get("past_user_inputs", []),
        "generated_responses": inputs.get("generated_responses", []),
    }


def stream_of(completion: dict[str, Any], include_usage: bool = True) -> list[Any]:
    """The chunks an OpenAI-style server would stream for a blocking completion (R-conv's order)."""
    base = {"id": completion["id"], "object": "chat.completion.chunk", "created": completion["created"]}
    base["model"] = completion["model"]
    choice = completion["choices"][0]
    text = choice["message"]["content"]
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    chunks = [
        {
            **base,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
        }
    ]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return [*chunks, "[DONE]"]


# ---------------------------------------------------------------- golden data is valid contract data


def test_golden_file_has_every_kind_of_case() -> None:
    kinds = {c["kind"] for c in CASES}
    assert kinds == {"pipeline", "chat_to_conversational", "conversational_error", "parse"}
    assert CASES[0]["name"] == "seed"
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in CASES if "request" in c])
def test_golden_requests_are_valid_conversational_requests(case: dict[str, Any]) -> None:
    errors = [e.message for e in component("ConversationalRequest").iter_errors(case["request"])]
    assert errors == []


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c["name"]) for c in CASES if "chat_completion_request" in c]
)
def test_golden_chat_requests_are_valid(case: dict[str, Any]) -> None:
    errors = [
        e.message for e in component("ChatCompletionRequest").iter_errors(case["chat_completion_request"])
    ]
    assert errors == []


@pytest.mark.parametrize("case", cases("pipeline"))
def test_golden_responses_are_valid(case: dict[str, Any]) -> None:
    assert list(component("ChatCompletionResponse").iter_errors(case["chat_completion_response"])) == []
    assert list(component("ConversationalResponse").iter_errors(case["response"])) == []
    for chunk in stream_of(case["chat_completion_response"])[:-1]:
        assert list(component("ChatCompletionChunk").iter_errors(chunk)) == []


def test_contract_validation_of_golden_data_can_fail() -> None:
    """The seed's own response (the `options` wrapper) and its chat request without `model` are refused."""
    seed_response = {"options": [{"generated_text": "It's the best movie ever.", "conversation": {}}]}
    assert not component("ConversationalResponse").is_valid(seed_response)
    assert not component("ChatCompletionRequest").is_valid({"messages": [{"role": "user", "content": "x"}]})


# ---------------------------------------------------------------- the pipeline, stage by stage


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_template_variables(case: dict[str, Any]) -> None:
    assert template_variables(case["request"]["inputs"], case.get("system")) == case["template_variables"]


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_templates_render_and_parse(case: dict[str, Any]) -> None:
    """Every template form renders the golden text, and that text parses to the golden chat request."""
    expected = case["chat_completion_request"]
    assert case["templates"], "a pipeline case has at least one template form"
    for form, template in case["templates"].items():
        rendered = RENDER[form](template["source"], case["template_variables"])
        assert rendered == template["rendered"], form
        assert chat_completion_request(rendered, expected["model"]) == expected, form


def test_seed_template_forms_render_identical_text() -> None:
    seed = next(c for c in CASES if c["name"] == "seed")
    assert seed["templates"]["handlebars"]["rendered"] == seed["templates"]["fstring"]["rendered"]


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_conversational_to_chat_agrees_with_the_template(case: dict[str, Any]) -> None:
    messages = conversational_to_chat_messages(case["request"]["inputs"], case.get("system"))
    assert messages == case["chat_completion_request"]["messages"]


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_chat_back_to_conversational(case: dict[str, Any]) -> None:
    """The chat request converts back to the HF inputs (a system message has no slot and is dropped)."""
    inputs = chat_messages_to_conversational(case["chat_completion_request"]["messages"])
    assert inputs == full_inputs(case["request"]["inputs"])


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_blocking_response(case: dict[str, Any]) -> None:
    response = chat_completion_to_conversational(case["request"]["inputs"], case["chat_completion_response"])
    assert response == case["response"]


@pytest.mark.parametrize("case", cases("pipeline"))
def test_pipeline_streamed_response(case: dict[str, Any]) -> None:
    chunks = stream_of(case["chat_completion_response"])
    assert chunks_to_conversational(case["request"]["inputs"], chunks) == case["response"]


@pytest.mark.parametrize("case", cases("pipeline"))
def test_run_pipeline_gives_every_stage(case: dict[str, Any]) -> None:
    form, template = next(iter(case["templates"].items()))
    stages = run_pipeline(
        case["request"],
        template["source"],
        form,
        case["chat_completion_request"]["model"],
        case.get("system"),
        case["chat_completion_response"],
    )
    assert stages["rendered"] == template["rendered"]
    assert stages["chat_completion_request"] == case["chat_completion_request"]
    assert stages["conversational_response"] == case["response"]
    assert "notes" not in stages, "the golden templates render exactly the payload's conversation"


def test_response_gains_the_new_turn_exactly_once() -> None:
    seed = next(c for c in CASES if c["name"] == "seed")
    inputs = seed["request"]["inputs"]
    before = copy.deepcopy(inputs)
    response = chat_completion_to_conversational(inputs, seed["chat_completion_response"])
    conversation = response["conversation"]
    assert conversation["past_user_inputs"] == [*before["past_user_inputs"], before["text"]]
    assert conversation["generated_responses"] == [*before["generated_responses"], response["generated_text"]]
    assert inputs == before, "the request's lists are not modified in place"


# ---------------------------------------------------------------- chat -> conversational and errors


@pytest.mark.parametrize("case", cases("chat_to_conversational"))
def test_chat_to_conversational_cases(case: dict[str, Any]) -> None:
    messages = case["chat_completion_request"]["messages"]
    if "error" in case:
        with pytest.raises(ConversionError) as info:
            chat_messages_to_conversational(messages)
        assert info.value.field == case["error"]["field"]
    else:
        inputs = chat_messages_to_conversational(messages)
        assert inputs == case["inputs"]
        assert list(component("ConversationalInputs").iter_errors(inputs)) == []


@pytest.mark.parametrize("case", cases("conversational_error"))
def test_conversational_error_cases(case: dict[str, Any]) -> None:
    """Every entry point that reads HF inputs refuses the case with the same field."""
    inputs = case["request"]["inputs"]
    reply = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}]
    }
    calls = [
        lambda: conversational_to_chat_messages(inputs),
        lambda: template_variables(inputs),
        lambda: chat_completion_to_conversational(inputs, reply),
        lambda: run_pipeline(case["request"], "{{text}}"),
    ]
    for call in calls:
        with pytest.raises(ConversionError) as info:
            call()
        assert info.value.field == case["error"]["field"]


@pytest.mark.parametrize("case", cases("parse"))
def test_parse_cases(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(ConversionError) as info:
            parse_message_tags(case["rendered"])
        assert info.value.field == case["error"]["field"]
    else:
        assert parse_message_tags(case["rendered"]) == case["messages"]


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ("not an object", "inputs"),
        ({}, "text"),
        ({"text": 3}, "text"),
        ({"text": "a", "past_user_inputs": "b", "generated_responses": "c"}, "past_user_inputs"),
        ({"text": "a", "past_user_inputs": ["b"], "generated_responses": [None]}, "generated_responses[0]"),
    ],
)
def test_bad_inputs_name_the_field(inputs: Any, field: str) -> None:
    with pytest.raises(ConversionError) as info:
        conversational_to_chat_messages(inputs)
    assert info.value.field == field
    assert field in str(info.value)


def test_system_must_be_text() -> None:
    with pytest.raises(ConversionError) as info:
        conversational_to_chat_messages({"text": "a"}, system=["x"])  # type: ignore[arg-type]
    assert info.value.field == "system"


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([], "messages"),
        ("user: hi", "messages"),
        (["hi"], "messages[0]"),
        ([{"role": "robot", "content": "x"}], "messages[0].role"),
        ([{"role": "user", "content": None}], "messages[0].content"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            "messages[0].content[0]",
        ),
    ],
)
def test_bad_chat_messages_name_the_field(messages: Any, field: str) -> None:
    with pytest.raises(ConversionError) as info:
        chat_messages_to_conversational(messages)
    assert info.value.field == field


@pytest.mark.parametrize(
    ("completion", "field"),
    [
        ("text", "completion"),
        ({"choices": []}, "choices"),
        ({"choices": [{"message": {"role": "assistant", "content": None}}]}, "choices[0].message.content"),
        ({"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}, "error"),
    ],
)
def test_bad_completions_are_refused(completion: Any, field: str) -> None:
    with pytest.raises(ConversionError) as info:
        chat_completion_to_conversational({"text": "a"}, completion)
    assert info.value.field == field


def _seed_stream() -> list[Any]:
    seed = next(c for c in CASES if c["name"] == "seed")
    return stream_of(seed["chat_completion_response"])


def test_stream_without_usage_chunk_or_done_is_accepted() -> None:
    seed = next(c for c in CASES if c["name"] == "seed")
    chunks = stream_of(seed["chat_completion_response"], include_usage=False)[:-1]
    assert chunks_to_conversational(seed["request"]["inputs"], chunks) == seed["response"]


def test_stream_items_after_done_are_ignored() -> None:
    chunks = _seed_stream()
    junk = {**chunks[1], "choices": [{"index": 0, "delta": {"content": "JUNK"}, "finish_reason": None}]}
    result = chunks_to_conversational({"text": "a"}, [*chunks, junk])
    assert "JUNK" not in result["generated_text"]


@pytest.mark.parametrize(
    ("breakage", "field"),
    [
        ("cut_before_finish", "finish_reason"),
        ("error_envelope", "error"),
        ("wrong_object", "chunks[1].object"),
        ("other_id", "chunks[2].id"),
        ("not_an_object", "chunks[1]"),
    ],
)
def test_broken_streams_are_refused(breakage: str, field: str) -> None:
    chunks = _seed_stream()
    if breakage == "cut_before_finish":
        chunks = chunks[:3]
    elif breakage == "error_envelope":
        chunks = [
            *chunks[:3],
            {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}},
        ]
    elif breakage == "wrong_object":
        chunks[1] = {**chunks[1], "object": "chat.completion"}
    elif breakage == "other_id":
        chunks[2] = {**chunks[2], "id": "chatcmpl-other"}
    else:
        chunks[1] = "data: {}"
    with pytest.raises(ConversionError) as info:
        chunks_to_conversational({"text": "a"}, chunks)
    assert info.value.field == field


def test_other_choice_indexes_are_ignored_in_streams() -> None:
    chunks = _seed_stream()
    extra = {**chunks[1], "choices": [{"index": 1, "delta": {"content": "OTHER"}, "finish_reason": None}]}
    result = chunks_to_conversational({"text": "a"}, [chunks[0], extra, *chunks[1:]])
    assert "OTHER" not in result["generated_text"]


# ---------------------------------------------------------------- properties

texts = st.text(max_size=40)


@st.composite
def hf_inputs(draw: st.DrawFn) -> dict[str, Any]:
    turns = draw(st.lists(st.tuples(texts, texts), max_size=6))
    return {
        "text": draw(texts),
        "past_user_inputs": [u for u, _ in turns],
        "generated_responses": [a for _, a in turns],
    }


@given(hf_inputs(), st.none() | texts)
def test_property_conversational_chat_conversational_is_identity(
    inputs: dict[str, Any], system: str | None
) -> None:
    messages = conversational_to_chat_messages(inputs, system)
    assert chat_messages_to_conversational(messages) == inputs


@given(hf_inputs(), texts)
def test_property_response_extends_the_conversation_by_one_turn(inputs: dict[str, Any], answer: str) -> None:
    completion = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
        ]
    }
    response = chat_completion_to_conversational(inputs, completion)
    assert response["generated_text"] == answer
    assert response["conversation"]["past_user_inputs"] == [*inputs["past_user_inputs"], inputs["text"]]
    assert response["conversation"]["generated_responses"] == [*inputs["generated_responses"], answer]


def test_package_is_pure_python_without_third_party_imports() -> None:
    """The mock imports this package; it must not drag in Flask, YAML or schema libraries."""
    probe = (
        "import sys, payload_conversions.cli\n"
        "print(sorted({'flask', 'yaml', 'jsonschema', 'requests'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=CASES_FILE.parents[2]
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- saved responses: object, chunk list, SSE

STREAMS = Path(__file__).resolve().parent.parent / "fixtures" / "streams"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("data: a\n\n", ["a"]),
        ("data:a\r\n\r\n", ["a"]),
        ("data:  a\r\r", [" a"]),
        ("data: a\ndata: b\n\n", ["a\nb"]),
        (": comment\n\ndata: x\n\n", ["x"]),
        ("event: ping\n\ndata: x\n\n", ["x"]),
        ("event: message\nid: 7\nretry: 10\ndata: x\n\n", ["x"]),
        ("data\n\n", [""]),
        ("\ufeffdata: bom\n\n", ["bom"]),
        ("data: a\n\ndata: [DONE]", ["a", "[DONE]"]),
        ("\n\n\n", []),
        ("hello\nworld\n", []),
    ],
)
def test_parse_sse(raw: str, expected: list[str]) -> None:
    assert parse_sse(raw) == expected


def test_read_chat_completion_gives_the_same_answer_in_every_form() -> None:
    blocking = read_chat_completion((STREAMS / "die-hard.completions.json").read_text(encoding="utf-8"))
    sse = (STREAMS / "die-hard.completions-usage.sse").read_text(encoding="utf-8")
    chunks = read_chat_completion(sse)
    assert isinstance(blocking, dict) and isinstance(chunks, list) and chunks[-1] == "[DONE]"
    as_list = read_chat_completion(json.dumps(chunks[:-1]))
    crlf = read_chat_completion(sse.replace("\n", "\r\n"))
    cr = read_chat_completion(sse.replace("\n", "\r"))
    assert crlf == cr == chunks and as_list == chunks[:-1]
    inputs = {"text": "Which movie is the best?"}
    expected = chat_completion_to_conversational(inputs, blocking)
    for stream in (chunks, as_list):
        assert chunks_to_conversational(inputs, stream) == expected


def test_read_chat_completion_stops_at_done() -> None:
    sse = (STREAMS / "die-hard.completions.sse").read_text(encoding="utf-8")
    chunks = read_chat_completion(sse + "data: {not json}\n\n")
    assert chunks[-1] == "[DONE]"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "expected a chat completion object"),
        ("hello", "expected a chat completion object"),
        ("42", "expected a chat completion object"),
        ("{not json", "not valid JSON"),
        ("[]", "empty list"),
        ('{"object": "chat.completion.chunk", "choices": []}', "single stream chunk"),
        ("data: {not json}\n\ndata: [DONE]\n\n", "SSE event 1 is not valid JSON"),
    ],
)
def test_read_chat_completion_refuses(text: str, message: str) -> None:
    with pytest.raises(ConversionError, match=re.escape(message)):
        read_chat_completion(text)


def test_chunk_choices_must_be_a_list() -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "choices": 5}
    with pytest.raises(ConversionError) as info:
        chunks_to_conversational({"text": "a"}, [chunk])
    assert info.value.field == "chunks[0].choices"


def test_run_pipeline_takes_a_stream() -> None:
    seed = next(c for c in CASES if c["name"] == "seed")
    form, template = next(iter(seed["templates"].items()))
    chunks = stream_of(seed["chat_completion_response"])
    stages = run_pipeline(seed["request"], template["source"], form, completion=chunks)
    assert stages["chat_completion_response"] == chunks
    assert stages["conversational_response"] == seed["response"]
    with pytest.raises(ConversionError, match="list of stream chunks"):
        run_pipeline(seed["request"], template["source"], form, completion="data: x")  # type: ignore[arg-type]


def test_builtin_fstring_chat_template_writes_the_system_message() -> None:
    payload = {"inputs": {"text": "Hi"}}
    stages = run_pipeline(
        payload, builtin_template("chat", "fstring", system=True), "fstring", system="Be brief"
    )
    assert stages["chat_completion_request"]["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert "notes" not in stages
    assert builtin_template("chat", "fstring") == BUILTIN_TEMPLATES["chat"]["fstring"]
    assert builtin_template("seed", "fstring", system=True) == BUILTIN_TEMPLATES["seed"]["fstring"]


@pytest.mark.parametrize("form", ["handlebars", "fstring"])
def test_a_template_without_system_notes_that_system_was_ignored(form: str) -> None:
    stages = run_pipeline(
        {"inputs": {"text": "Hi"}},
        BUILTIN_TEMPLATES["chat"][form] if form == "fstring" else '<message role="user">{{text}}</message>',
        form,
        system="Be brief",
    )
    assert stages["chat_completion_request"]["messages"] == [{"role": "user", "content": "Hi"}]
    assert stages["notes"] == [
        "The system message (--system) was ignored: this template has no `system` variable "
        "(the built-in `chat` template has one)."
    ], "only the system message is missing; the turns match the payload"
