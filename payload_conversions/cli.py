"""`chat-pipeline`: show the seed's pipeline for a payload, stage by stage.

chat-pipeline                                  # the seed's example with the seed's templates
chat-pipeline payload.json --reply "Die Hard." # your payload, the generic chat template
echo '{"inputs": {"text": "Hi"}}' | chat-pipeline - --form fstring --json
chat-pipeline payload.json --completion stream.sse   # a blocking response, a JSON chunk list or SSE
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from payload_conversions import __version__
from payload_conversions.builtin_templates import BUILTIN_TEMPLATES, SEED_PAYLOAD, builtin_template
from payload_conversions.errors import ConversionError
from payload_conversions.pipeline import TEMPLATE_FORMS, completion_from_reply, run_pipeline
from payload_conversions.streaming import read_chat_completion

SECTIONS = (
    ("conversational_request", "Conversational payload (Hugging Face)"),
    ("template_variables", "Template variables"),
    ("template", "Template ({form})"),
    ("rendered", "Rendered template"),
    ("chat_completion_request", "Chat completion request"),
    ("notes", "Notes"),
    ("chat_completion_response", "Chat completion response"),
    ("conversational_response", "Conversational response (Hugging Face)"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chat-pipeline",
        description="Conversational payload -> prompt template -> chat completion request -> "
        "conversational response.",
    )
    parser.add_argument("--version", action="version", version=f"chat-pipeline {__version__}")
    parser.add_argument(
        "payload",
        nargs="?",
        help="conversational request JSON file, or - for stdin (default: the seed's example)",
    )
    parser.add_argument(
        "--form", choices=TEMPLATE_FORMS, default="handlebars", help="template form (default: handlebars)"
    )
    parser.add_argument(
        "--template",
        help="built-in template name (seed, chat) or a template file "
        "(default: seed for the built-in example, chat for a given payload)",
    )
    parser.add_argument("--system", help="system message (the HF payload has no slot for one)")
    parser.add_argument(
        "--model", default="gpt-4", help="model of the chat completion request (default: gpt-4)"
    )
    answer = parser.add_mutually_exclusive_group()
    answer.add_argument("--reply", help="the model's answer text, to build the conversational response")
    answer.add_argument(
        "--completion",
        help="a chat completion response file, or - for stdin: a blocking response (JSON object), "
        "a stream as a JSON list of chunks, or a stream as SSE text (data: lines, then data: [DONE])",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object with every stage")
    return parser


def _read_text(source: str, what: str) -> str:
    try:
        return sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConversionError(f"cannot read the {what}: {exc}") from exc


def _read_json(source: str, what: str) -> Any:
    text = _read_text(source, what)
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConversionError(f"the {what} is not valid JSON: {exc}") from exc


def _template(args: argparse.Namespace) -> str:
    name = args.template or ("seed" if args.payload is None else "chat")
    if name in BUILTIN_TEMPLATES:
        return builtin_template(name, args.form, system=bool(args.system))
    try:
        return Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConversionError(
            f"--template is neither a built-in ({', '.join(BUILTIN_TEMPLATES)}) nor a file: {exc}"
        ) from exc


def _show(stages: dict[str, Any]) -> str:
    out = []
    for key, title in SECTIONS:
        if key not in stages:
            continue
        value = stages[key]
        heading = title.format(form=stages["template_form"])
        if key == "notes":
            body = "\n".join(f"- {note}" for note in value)
        elif key == "chat_completion_response" and isinstance(value, list):
            # A stream: one chunk per line, as the server sent them.
            lines = [json.dumps(chunk, ensure_ascii=False, separators=(",", ":")) for chunk in value]
            body = "[\n" + ",\n".join(f"  {line}" for line in lines) + "\n]"
            heading += f" (streamed, {len(value)} items)"
        else:
            body = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        out.append(f"== {heading} ==\n{body.rstrip(chr(10))}\n")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.payload == "-" and args.completion == "-":
            raise ConversionError("the payload and --completion cannot both be read from stdin (-)")
        payload = SEED_PAYLOAD if args.payload is None else _read_json(args.payload, "payload")
        completion = None
        if args.completion:
            completion = read_chat_completion(_read_text(args.completion, "chat completion"))
        elif args.reply is not None:
            completion = completion_from_reply(args.reply, args.model, int(time.time()))
        stages = run_pipeline(payload, _template(args), args.form, args.model, args.system, completion)
    except ConversionError as exc:
        print(f"chat-pipeline: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(stages, indent=2, ensure_ascii=False))
    else:
        print(_show(stages), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
