"""completions: the OpenAI-style surface (only with --chat-completions-url).

Blocking shape, the chunk sequence of a stream (role first, content deltas, finish_reason last,
`[DONE]`, one id), the usage chunk, and the four-key error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from conformance import contract
from conformance.checking import check, expect, expect_error, expect_json_body, expect_status, fail
from conformance.data import load_yaml
from conformance.http import Client, StreamResult
from conformance.options import Options
from conformance.run import Run

OP = contract.operation("createChatCompletion")


def messages() -> list[dict[str, Any]]:
    doc = load_yaml("conversions/pipeline_cases.json") or {}
    for case in doc.get("cases", []):
        if case.get("name") == "seed":
            return case["chat_completion_request"]["messages"]
    return [{"role": "user", "content": "Which movie is the best?"}]


def body(options: Options, **extra: Any) -> dict[str, Any]:
    return {"model": options.chat_completions_model, "messages": messages(), **extra}


@pytest.fixture(scope="module")
def streamed(completions_client: Client, options: Options, run: Run) -> StreamResult:
    run.spend(1, "a streamed chat completion")
    return completions_client.stream("POST", "/chat/completions", json_body=body(options, stream=True))


def _chunks(s: StreamResult) -> list[dict[str, Any]]:
    expect_status(s.exchange, 200)
    expect(
        s.exchange.content_type == "text/event-stream",
        f"content type {s.exchange.content_type!r}, wanted text/event-stream",
        s,
    )
    expect(s.complete, f"the stream did not end properly: {s.end_reason}", s)
    data = s.data_events()
    expect(data and data[-1].data == "[DONE]", "the stream does not end with data: [DONE]", s)
    expect([e.data for e in data].count("[DONE]") == 1, "more than one [DONE]", s)
    chunks = []
    for e in data[:-1]:
        try:
            chunks.append(json.loads(e.data or ""))
        except ValueError:
            fail(f"a chunk is not JSON: {e.data!r:.120}", s)
    return chunks


@check(
    "completions.shape",
    "a blocking completion matches the contract; usage adds up",
    contract="createChatCompletion, stream false: one JSON object matching ChatCompletionResponse",
)
def test_shape(completions_client: Client, options: Options, run: Run) -> None:
    run.spend(1, "a chat completion")
    ex = completions_client.call("POST", "/chat/completions", json_body=body(options))
    expect_status(ex, 200)
    answer = expect_json_body(ex, OP)
    usage = answer.get("usage")
    if usage:
        expect(
            usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"],
            f"usage does not add up: {usage}",
            ex,
        )


@check(
    "completions.stream_events_valid",
    "every stream event matches the contract's itemSchema",
    contract=(
        "createChatCompletion, stream true: a `text/event-stream` of `data: <chunk>\\n\\n` frames "
        "(each matching the contract's itemSchema) ending with `data: [DONE]`"
    ),
)
def test_stream_events_valid(streamed: StreamResult) -> None:
    _chunks(streamed)
    schema = OP.item_schema(200)
    if schema is None:
        fail("the contract has no itemSchema for createChatCompletion")
    for i, event in enumerate(streamed.events):
        errors = contract.item_errors(schema, event.item())
        if errors:
            fail(f"event {i} is invalid: {'; '.join(errors)}", streamed)


@check(
    "completions.chunk_sequence",
    "role first, content deltas, finish_reason last, one id and created",
    contract=(
        "createChatCompletion, stream true: all chunks share `id` and `created`; the first delta is"
        ' `{"role": "assistant", "content": ""}`, then content deltas, then an empty delta with '
        "`finish_reason`, then `[DONE]`; nothing follows `[DONE]`"
    ),
)
def test_chunk_sequence(streamed: StreamResult) -> None:
    chunks = [c for c in _chunks(streamed) if c.get("choices")]
    expect(len(chunks) >= 2, f"only {len(chunks)} chunks with choices", streamed)
    expect(len({c.get("id") for c in chunks}) == 1, "chunks of one answer carry different ids", streamed)
    expect(
        len({c.get("created") for c in chunks}) == 1, "chunks of one answer carry different created", streamed
    )
    first = chunks[0]["choices"][0]
    expect(
        first.get("delta", {}).get("role") == "assistant",
        f"the first delta is {first.get('delta')!r}, wanted role assistant",
        streamed,
    )
    last = chunks[-1]["choices"][0]
    expect(last.get("finish_reason"), "the last chunk has no finish_reason", streamed)
    for c in chunks[:-1]:
        expect(
            c["choices"][0].get("finish_reason") is None,
            f"finish_reason {c['choices'][0].get('finish_reason')!r} before the last chunk",
            streamed,
        )
    for c in chunks[1:]:
        expect(
            "role" not in c["choices"][0].get("delta", {}), "a role appears after the first delta", streamed
        )


@check(
    "completions.stream_usage",
    "include_usage adds one last chunk with choices [] and usage",
    contract=(
        "createChatCompletion, stream true: with `stream_options.include_usage` one more chunk with"
        " `choices: []` and `usage` comes before `[DONE]`"
    ),
)
def test_stream_usage(completions_client: Client, options: Options, run: Run) -> None:
    run.spend(1, "a streamed chat completion with usage")
    s = completions_client.stream(
        "POST",
        "/chat/completions",
        json_body=body(options, stream=True, stream_options={"include_usage": True}),
    )
    chunks = _chunks(s)
    expect(chunks, "no chunks", s)
    last = chunks[-1]
    expect(
        last.get("choices") == [] and isinstance(last.get("usage"), dict),
        f"the last chunk is {json.dumps(last)[:200]}, wanted choices [] with usage",
        s,
    )


@check("completions.errors", "invalid requests are 400 with the four-key {error} envelope")
@pytest.mark.parametrize("bad", ["missing_messages", "empty_messages", "missing_model", "bad_role"])
def test_errors(completions_client: Client, options: Options, bad: str) -> None:
    payload = body(options)
    if bad == "missing_messages":
        payload.pop("messages")
    elif bad == "empty_messages":
        payload["messages"] = []
    elif bad == "missing_model":
        payload.pop("model")
    else:
        payload["messages"] = [{"role": "wizard", "content": "hi"}]
    expect_error(completions_client.call("POST", "/chat/completions", json_body=payload), OP, 400)
