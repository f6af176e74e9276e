"""conversational: the Hugging Face surface (only with --conversational-url).

Request/response shapes, the conversation update rule (request lists + the new turn, exactly once)
on the golden cases of fixtures/conversions/, list-length errors and the {error} envelope.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checking import check, expect, expect_error, expect_json_body, expect_status
from conformance.contract import operation
from conformance.data import load_yaml
from conformance.http import Client
from conformance.options import Options
from conformance.run import Run

CONV = operation("conversational")


def golden(kind: str) -> list[dict[str, Any]]:
    doc = load_yaml("conversions/pipeline_cases.json") or {}
    return [c for c in doc.get("cases", []) if c.get("kind") == kind]


PIPELINE = golden("pipeline")
ERRORS = golden("conversational_error")


def model_path(options: Options) -> str:
    return f"/models/{options.conversational_model.strip('/')}"


def post(client: Client, options: Options, body: Any, **kwargs: Any) -> Any:
    return client.call("POST", model_path(options), json_body=body, **kwargs)


@check(
    "conversational.shape",
    "an answer is the bare {generated_text, conversation} object",
    contract="conversational 200: the bare `{generated_text, conversation}` object of the contract's schema",
)
def test_shape(conversational_client: Client, options: Options, run: Run) -> None:
    run.spend(1, "a conversational answer")
    ex = post(conversational_client, options, {"inputs": {"text": "Which movie is the best?"}})
    expect_status(ex, 200)
    body = expect_json_body(ex, CONV)
    expect(
        "options" not in body,
        "the answer is wrapped in {options: [...]} (the seed's convention, not the wire)",
        ex,
    )


@check(
    "conversational.update_rule",
    "response conversation = request lists + the new turn, exactly once",
    contract=(
        "conversational: the response's `conversation` is the request's lists with `text` appended "
        "to `past_user_inputs` and `generated_text` to `generated_responses`, each exactly once"
    ),
)
@pytest.mark.parametrize("case", PIPELINE, ids=[c["name"] for c in PIPELINE])
def test_update_rule(conversational_client: Client, options: Options, run: Run, case: dict[str, Any]) -> None:
    run.spend(1, f"golden case {case['name']}")
    request = case["request"]
    ex = post(conversational_client, options, request)
    expect_status(ex, 200)
    body = expect_json_body(ex, CONV)
    inputs = request["inputs"]
    past = list(inputs.get("past_user_inputs", [])) + [inputs["text"]]
    generated = list(inputs.get("generated_responses", [])) + [body["generated_text"]]
    conv = body["conversation"]
    expect(
        conv["past_user_inputs"] == past,
        f"past_user_inputs {conv['past_user_inputs']!r:.200}, wanted {past!r:.200}",
        ex,
        expected="the request's past_user_inputs with text appended once",
    )
    expect(
        conv["generated_responses"] == generated,
        f"generated_responses {conv['generated_responses']!r:.200}, wanted {generated!r:.200}",
        ex,
        expected="the request's generated_responses with generated_text appended once",
    )


@check(
    "conversational.list_length",
    "unequal past_user_inputs / generated_responses is 400 with {error}",
    contract=(
        "conversational: `past_user_inputs` and `generated_responses` must have the same length "
        "(otherwise 400 with the `{error}` envelope)"
    ),
)
@pytest.mark.parametrize("case", ERRORS, ids=[c["name"] for c in ERRORS])
def test_list_length(conversational_client: Client, options: Options, case: dict[str, Any]) -> None:
    expect_error(post(conversational_client, options, case["request"]), CONV, 400)


@check("conversational.missing_text", "a request without inputs.text is 400 with {error}")
def test_missing_text(conversational_client: Client, options: Options) -> None:
    expect_error(post(conversational_client, options, {"inputs": {"past_user_inputs": []}}), CONV, 400)


@check("conversational.not_json", "a body that is not JSON is refused (400 or 415) with {error}")
def test_not_json(conversational_client: Client, options: Options) -> None:
    ex = conversational_client.call(
        "POST",
        model_path(options),
        raw_body=b"text=hello",
        headers={"Content-Type": "text/plain"},
        evidence_body="text=hello",
    )
    expect_error(ex, CONV, 415 if ex.status != 400 else 400)
