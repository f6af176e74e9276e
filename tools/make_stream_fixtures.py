"""Generate fixtures/streams/: the golden SSE streams and their blocking twins.

Every file named in fixtures/streams/manifest.yaml (streams and blocking bodies) is rendered from
its manifest entry (ids, times, keep-alive and error positions, line endings, the request), the
answer and tokenizer of fixtures/answers.yaml, the ids and times of the messages seeded in
fixtures/users.yaml and the app mode of fixtures/app.yaml, so the committed bytes can be
regenerated and compared:

    python tools/make_stream_fixtures.py           # rewrite the files named in the manifest
    python tools/make_stream_fixtures.py --check   # exit 1 and name the files that differ

The frame format is fixtures/streams/README.md's: `data: <compact JSON>\\n\\n`, keys in a fixed order,
UTF-8 without escaping; blocking bodies are indented JSON with a final newline. README.md and
manifest.yaml are hand-written inputs and are never written.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

try:
    from tools import generated
except ImportError:  # run as a script (python tools/...): its own folder is on the path
    import generated  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
STREAMS_DIR = FIXTURES / "streams"
MANIFEST_PATH = STREAMS_DIR / "manifest.yaml"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def answer_rule(doc: dict[str, Any]):
    """The answers.yaml rule (exact-casefold-strip match, hash-pick fallback) as a function."""
    canned = {e["query"].strip().casefold(): e["answer"] for e in doc["answers"]}
    fallback = doc["fallback"]["answers"]

    def answer(query: str) -> str:
        key = query.strip().casefold()
        if key in canned:
            return canned[key]
        return fallback[int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) % len(fallback)]

    return answer


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


class Sources:
    """The data the streams are built from: answers, tokenizer, seeded messages, app mode."""

    def __init__(self, answers: dict[str, Any], users: dict[str, Any], app: dict[str, Any]) -> None:
        self.answer = answer_rule(answers)
        self.tokenizer = re.compile(answers["tokenizer"])
        self.mode = app["app"]["mode"]
        self.model = app["model"]
        self.seeded = {
            m["id"]: {"conversation_id": c["id"], "created_at": m["created_at"], "answer": m["answer"]}
            for u in users["users"]
            for c in u["conversations"]
            for m in c["messages"]
        }

    def pieces(self, text: str) -> list[str]:
        return self.tokenizer.findall(text)

    def usage(self, query: str, answer: str) -> dict[str, int]:
        prompt, completion = len(self.pieces(query)), len(self.pieces(answer))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def chat_usage(self, query: str, answer: str) -> dict[str, Any]:
        """Dify's usage block (the twelve older fields, then `time_to_first_token` and
        `time_to_generate`): prices from app.yaml's `model`, the times 0 (no pacing)."""
        counts = self.usage(query, answer)
        unit = decimal.Decimal(self.model["price_unit"])
        prices = {}
        for kind in ("prompt", "completion"):
            amount = counts[f"{kind}_tokens"] * decimal.Decimal(self.model[f"{kind}_unit_price"]) * unit
            prices[kind] = amount.quantize(decimal.Decimal("0.0000001"), rounding=decimal.ROUND_HALF_UP)
        return {
            "prompt_tokens": counts["prompt_tokens"],
            "prompt_unit_price": self.model["prompt_unit_price"],
            "prompt_price_unit": self.model["price_unit"],
            "prompt_price": str(prices["prompt"]),
            "completion_tokens": counts["completion_tokens"],
            "completion_unit_price": self.model["completion_unit_price"],
            "completion_price_unit": self.model["price_unit"],
            "completion_price": str(prices["completion"]),
            "total_tokens": counts["total_tokens"],
            "total_price": str(prices["prompt"] + prices["completion"]),
            "currency": self.model["currency"],
            "latency": 0.0,
            "time_to_first_token": 0.0,
            "time_to_generate": 0.0,
        }

    def chat_ids(self, entry: dict[str, Any]) -> dict[str, Any]:
        """task_id, message_id, conversation_id, created_at: the manifest's, completed from users.yaml."""
        ids = dict(entry["ids"])
        seeded = self.seeded.get(ids["message_id"])
        if seeded:
            for field in ("conversation_id", "created_at"):
                if ids.setdefault(field, seeded[field]) != seeded[field]:
                    raise ValueError(f"{entry['file']}: {field} is not that of the seeded message")
            if seeded["answer"] != self.answer(entry["query"]):
                raise ValueError(f"{entry['file']}: the seeded message's answer is not answers.yaml's")
        missing = {"task_id", "message_id", "conversation_id", "created_at"} - ids.keys()
        if missing:
            raise ValueError(f"{entry['file']}: ids lack {sorted(missing)} (the message is not seeded)")
        return ids


def frame(payload: Any) -> str:
    return f"data: {payload if isinstance(payload, str) else compact(payload)}\n\n"


def _with_extras(entry: dict[str, Any], frames: list[str], count: int) -> list[str]:
    """Insert the keep-alive frames after `keep_alive.after` of the `count` piece frames."""
    keep = entry.get("keep_alive")
    if not keep:
        return frames
    if not 0 < keep["after"] < count:
        raise ValueError(f"{entry['file']}: keep_alive.after is not inside the stream")
    extra = [f"{line}\n\n" for line in keep["frames"]]
    return [*frames[: keep["after"]], *extra, *frames[keep["after"] :]]


def chat_stream(entry: dict[str, Any], src: Sources) -> tuple[str, dict[str, Any] | None]:
    """The Chat App stream (sendChatMessage) and, unless it ends with an error, its blocking body."""
    ids = src.chat_ids(entry)
    query = entry["query"]
    answer = src.answer(query)
    pieces = src.pieces(answer)
    head = {
        "task_id": ids["task_id"],
        "id": ids["message_id"],
        "message_id": ids["message_id"],
        "conversation_id": ids["conversation_id"],
    }
    error = entry.get("error")
    if error:
        if not 0 < error["after"] < len(pieces):
            raise ValueError(f"{entry['file']}: error.after must leave a strict prefix of the pieces")
        pieces = pieces[: error["after"]]
    created = ids["created_at"]
    # A chat app's pieces carry `from_variable_selector` as null (only a workflow's answer names a
    # variable) and its message_end `files` null when the message has no files (Dify 1.12.1's
    # easy-UI task pipeline; SPEC_NOTES K10).
    frames = [
        frame(
            {"event": "message", **head, "answer": p, "from_variable_selector": None, "created_at": created}
        )
        for p in pieces
    ]
    frames = _with_extras(entry, frames, len(pieces))
    usage = src.chat_usage(query, answer)
    metadata = {"annotation_reply": None, "retriever_resources": [], "usage": usage}
    blocking = None
    if error:
        frames.append(
            frame(
                {
                    "event": "error",
                    "task_id": ids["task_id"],
                    "message_id": ids["message_id"],
                    "conversation_id": ids["conversation_id"],
                    "created_at": created,
                    "status": error["status"],
                    "code": error["code"],
                    "message": error["message"],
                }
            )
        )
    else:
        frames.append(
            frame(
                {"event": "message_end", **head, "created_at": created, "metadata": metadata, "files": None}
            )
        )
        blocking = {
            "event": "message",
            **head,
            "mode": src.mode,
            "answer": answer,
            "metadata": metadata,
            "created_at": ids["created_at"],
        }
    return "".join(frames), blocking


def completion_stream(entry: dict[str, Any], src: Sources) -> tuple[str, dict[str, Any]]:
    """The chat completion stream (createChatCompletion) and its blocking body."""
    request = entry["request"]
    query = entry["query"]
    answer = src.answer(query)
    pieces = src.pieces(answer)
    usage = src.usage(query, answer)
    head = {
        "id": entry["ids"]["id"],
        "object": "chat.completion.chunk",
        "created": entry["ids"]["created"],
        "model": request["model"],
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return frame({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    frames = _with_extras(entry, [chunk({"content": p}) for p in pieces], len(pieces))
    frames.insert(0, chunk({"role": "assistant", "content": ""}))
    frames.append(chunk({}, "stop"))
    if (request.get("stream_options") or {}).get("include_usage"):
        frames.append(frame({**head, "choices": [], "usage": usage}))
    frames.append(frame("[DONE]"))
    blocking = {
        **head,
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"},
        ],
        "usage": usage,
    }
    return "".join(frames), blocking


def build(manifest: dict[str, Any], src: Sources) -> dict[str, bytes]:
    files: dict[str, bytes] = {}

    def put(name: str, data: bytes) -> None:
        if files.setdefault(name, data) != data:
            raise ValueError(f"{name}: two manifest entries render it differently")

    for entry in manifest["streams"]:
        if entry["operation"] == "sendChatMessage":
            text, blocking = chat_stream(entry, src)
        elif entry["operation"] == "createChatCompletion":
            text, blocking = completion_stream(entry, src)
        else:
            raise ValueError(f"{entry['file']}: no renderer for operation {entry['operation']}")
        last = text.rstrip("\n").rsplit("\n\n", 1)[-1].removeprefix("data: ")
        terminal = last if last == "[DONE]" else json.loads(last)["event"]
        if entry["ends_with"] != terminal:
            raise ValueError(f"{entry['file']}: ends with {terminal}, the manifest says {entry['ends_with']}")
        if entry["line_endings"] == "crlf":
            text = text.replace("\n", "\r\n")
        elif entry["line_endings"] != "lf":
            raise ValueError(f"{entry['file']}: line_endings must be lf or crlf")
        put(entry["file"], text.encode("utf-8"))
        if bool(entry["blocking"]) != bool(blocking):
            raise ValueError(f"{entry['file']}: blocking twin listed for an error stream, or missing")
        if entry["blocking"]:
            put(entry["blocking"], pretty(blocking).encode("utf-8"))
    return files


def generate() -> dict[str, bytes]:
    """File name -> bytes for every file of fixtures/streams/ that the manifest names."""
    src = Sources(*(_load(FIXTURES / name) for name in ("answers.yaml", "users.yaml", "app.yaml")))
    return build(_load(MANIFEST_PATH), src)


def stale(files: dict[str, bytes], directory: Path | None = None) -> list[str]:
    """Names of the generated files whose committed bytes differ (or that are missing)."""
    return generated.stale(files, directory or STREAMS_DIR)


def main(argv: list[str] | None = None) -> int:
    return generated.main(__doc__.splitlines()[0], generate, STREAMS_DIR, argv)


if __name__ == "__main__":
    sys.exit(main())
