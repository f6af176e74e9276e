"""The seed's pipeline as functions: HF payload -> template variables -> rendered template -> chat
completion request -> (model) -> chat completion response -> HF response."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from payload_conversions.conversational import (
    INSTRUCTION_ROLES,
    chat_completion_to_conversational,
    chunks_to_conversational,
    conversational_to_chat_messages,
    read_conversational_inputs,
)
from payload_conversions.errors import ConversionError
from payload_conversions.fstring import render_fstring
from payload_conversions.handlebars import render_handlebars
from payload_conversions.tags import parse_message_tags

TEMPLATE_FORMS = ("handlebars", "fstring")


def template_variables(inputs: Mapping[str, Any], system: str | None = None) -> dict[str, Any]:
    """HF `inputs` -> the variables a template sees.

    `text` is the new user text, also under `input` and `user` (the names the seed's Handlebars and
    f-string templates use); `history` is the earlier turns as [{role, content}]; `system` only when given.
    """
    text, past, generated = read_conversational_inputs(inputs)
    history = conversational_to_chat_messages(
        {"text": "", "past_user_inputs": past, "generated_responses": generated}
    )[:-1]
    variables: dict[str, Any] = {
        "text": text,
        "input": text,
        "user": text,
        "past_user_inputs": past,
        "generated_responses": generated,
        "history": history,
    }
    if system is not None:
        variables["system"] = system
    return variables


def render_template(form: str, template: str, variables: Mapping[str, Any]) -> str:
    if form == "handlebars":
        return render_handlebars(template, variables)
    if form == "fstring":
        return render_fstring(template, variables)
    raise ConversionError(
        f"unknown template form {form!r}; expected one of {', '.join(TEMPLATE_FORMS)}", "form"
    )


def chat_completion_request(rendered: str, model: str) -> dict[str, Any]:
    """Rendered template -> a chat completion request body {model, messages}."""
    messages = parse_message_tags(rendered)
    if not messages:
        raise ConversionError("the rendered template holds no message", "messages")
    return {"model": model, "messages": messages}


def completion_from_reply(
    reply: str, model: str, created: int, completion_id: str = "chatcmpl-pipeline"
) -> dict:
    """A blocking chat completion response carrying `reply`, for showing the last step without a model."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
        ],
    }


def _notes(messages: list[dict], inputs: Mapping[str, Any], system: str | None) -> list[str]:
    """What the rendered request leaves out of, or adds to, the payload's conversation and --system."""
    notes = []
    turns = [m for m in messages if m["role"] not in INSTRUCTION_ROLES]
    instructions = [m for m in messages if m["role"] in INSTRUCTION_ROLES]
    if turns != conversational_to_chat_messages(inputs):
        notes.append(
            "The rendered messages differ from the payload's conversation (the template hard-codes or "
            "leaves out turns); the conversational response follows the payload."
        )
    if system and not any(system.strip() in m["content"] for m in instructions):
        notes.append(
            "The system message (--system) was ignored: this template has no `system` variable "
            "(the built-in `chat` template has one)."
        )
    elif not system and instructions:
        notes.append("The template writes its own system message; the payload has none.")
    return notes


def run_pipeline(
    payload: Mapping[str, Any],
    template: str,
    form: str = "handlebars",
    model: str = "gpt-4",
    system: str | None = None,
    completion: Mapping[str, Any] | Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Every stage of the pipeline, in order, as a dict (the last two only when `completion` is given).

    `completion` is a blocking chat completion object or a stream as a list of chunk objects (as
    `read_chat_completion` returns them); `notes` says what the template left out or added.
    """
    if not isinstance(payload, Mapping) or "inputs" not in payload:
        raise ConversionError("the conversational payload must be an object with `inputs`", "inputs")
    inputs = payload["inputs"]
    variables = template_variables(inputs, system)
    rendered = render_template(form, template, variables)
    stages: dict[str, Any] = {
        "conversational_request": dict(payload),
        "template_variables": variables,
        "template_form": form,
        "template": template,
        "rendered": rendered,
        "chat_completion_request": chat_completion_request(rendered, model),
    }
    notes = _notes(stages["chat_completion_request"]["messages"], inputs, system)
    if notes:
        stages["notes"] = notes
    if completion is None:
        return stages
    if isinstance(completion, Mapping):
        stages["chat_completion_response"] = dict(completion)
        stages["conversational_response"] = chat_completion_to_conversational(inputs, completion)
    elif isinstance(completion, Sequence) and not isinstance(completion, str | bytes):
        stages["chat_completion_response"] = list(completion)
        stages["conversational_response"] = chunks_to_conversational(inputs, completion)
    else:
        raise ConversionError("must be a chat completion object or a list of stream chunks", "completion")
    return stages
