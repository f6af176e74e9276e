"""fixtures/ (except conversions/) is valid against the contract and internally consistent.

Schemas are looked up by name in openapi.yaml (tests/contract.py); none is copied here. Each
checker returns a list of problems so that deliberately broken variants can prove it fails.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import re
import wave
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from mock_server.fixtures import HISTORY_DEFAULTS
from tests.contract import component, content_schema_errors, contract, resolve, validator
from tools import make_audio_fixtures, make_media_fixtures, make_stream_fixtures, make_user_fixtures

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
STREAMS = FIXTURES / "streams"
AUDIO = FIXTURES / "audio"
EARLIEST, LATEST = 1672531200, 1798761600  # 2023-01-01 .. 2027-01-01 (UTC)


def load(relative: str) -> Any:
    return yaml.safe_load((FIXTURES / relative).read_text(encoding="utf-8"))


def schema_errors(name: str, instance: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in component(name).iter_errors(instance)]


def operation(operation_id: str) -> dict[str, Any]:
    for item in contract()["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op
    raise KeyError(operation_id)


def response_media(operation_id: str, media_type: str) -> dict[str, Any]:
    return resolve(operation(operation_id)["responses"]["200"])["content"][media_type]


def request_errors(operation_id: str, body: Any) -> list[str]:
    schema = resolve(operation(operation_id)["requestBody"])["content"]["application/json"]["schema"]
    return [e.message for e in validator(schema).iter_errors(body)]


# ---------------------------------------------------------------- answers.yaml: the documented rules

ANSWERS = load("answers.yaml")


def key(query: str) -> str:
    """The `exact-casefold-strip` match key, as answers.yaml documents it."""
    return query.strip().casefold()


def hash_pick(query: str, choices: list[str]) -> int:
    return int(hashlib.sha256(key(query).encode("utf-8")).hexdigest()[:8], 16) % len(choices)


def rule_answer(doc: dict[str, Any], query: str) -> str:
    for entry in doc["answers"]:
        if key(entry["query"]) == key(query):
            return entry["answer"]
    choices = doc["fallback"]["answers"]
    return choices[hash_pick(query, choices)]


def pieces(answer: str, doc: dict[str, Any] = ANSWERS) -> list[str]:
    return re.findall(doc["tokenizer"], answer)


def tokenizer_problems(tokenizer: str, answer: str) -> list[str]:
    found = re.findall(tokenizer, answer)
    problems = []
    if "".join(found) != answer:
        problems.append(f"pieces do not concatenate to the answer: {found!r}")
    if any(p == "" for p in found):
        problems.append("empty piece")
    return problems


def all_answer_texts() -> list[str]:
    users = load("users.yaml")["users"]
    seeded = [m["answer"] for u in users for c in u["conversations"] for m in c["messages"]]
    return [e["answer"] for e in ANSWERS["answers"]] + list(ANSWERS["fallback"]["answers"]) + seeded


def test_answers_document_declares_its_rules() -> None:
    assert ANSWERS["match"] == "exact-casefold-strip"
    assert ANSWERS["tokenizer"] == r"\s*\S+|\s+$"
    assert ANSWERS["fallback"]["strategy"] == "hash-pick"
    assert len(ANSWERS["fallback"]["answers"]) == 5


def test_answer_entries_are_well_formed_and_unique() -> None:
    entries = ANSWERS["answers"]
    assert len(entries) >= 8
    assert all(isinstance(e["query"], str) and isinstance(e["answer"], str) and e["answer"] for e in entries)
    keys = [key(e["query"]) for e in entries]
    assert len(keys) == len(set(keys)), "two entries share a match key"


def test_answers_cover_the_seed_and_the_stream_cases() -> None:
    by_key = {key(e["query"]): e["answer"] for e in ANSWERS["answers"]}
    assert by_key["which movie is the best?"] == "It's Die Hard for sure."
    assert by_key["can you explain why?"].startswith("As an AI, I don't have personal opinions.")
    assert by_key["can you explain why?"].endswith("whether it qualifies as a Christmas movie.")
    assert "hello" in by_key
    answers = list(by_key.values())
    assert any(not a.isascii() for a in answers), "one answer with unicode"
    assert any("\n" in a for a in answers), "one answer with newlines"
    assert any(len(a.split()) >= 110 for a in answers), "one long answer (~120 words)"


@pytest.mark.parametrize("answer", all_answer_texts())
def test_tokenizer_pieces_concatenate_to_every_answer(answer: str) -> None:
    assert tokenizer_problems(ANSWERS["tokenizer"], answer) == []


@pytest.mark.parametrize("bad", [r"\S+", r"\s*\S+", r"\w+"])
def test_tokenizer_check_catches_lossy_tokenizers(bad: str) -> None:
    assert any(tokenizer_problems(bad, a) for a in all_answer_texts())


def fallback_problems(doc: dict[str, Any]) -> list[str]:
    choices = doc["fallback"]["answers"]
    canned = {key(e["query"]) for e in doc["answers"]}
    problems = []
    for ex in doc["fallback"]["examples"]:
        if key(ex["query"]) in canned:
            problems.append(f"{ex['query']!r} has a canned answer, it is no fallback vector")
        picked = hash_pick(ex["query"], choices)
        if picked != ex["index"]:
            problems.append(f"{ex['query']!r}: the rule picks {picked}, not {ex['index']}")
    return problems


def test_fallback_examples_follow_the_documented_hash() -> None:
    assert fallback_problems(ANSWERS) == []
    reached = {ex["index"] for ex in ANSWERS["fallback"]["examples"]}
    assert reached == set(range(len(ANSWERS["fallback"]["answers"]))), "vectors should reach every answer"


@pytest.mark.parametrize(
    "breaker",
    [
        lambda d: d["fallback"]["examples"][0].update(index=d["fallback"]["examples"][0]["index"] + 1),
        lambda d: d["fallback"]["answers"].pop(),
        lambda d: d["fallback"]["examples"].append({"query": "HELLO ", "index": 0}),
    ],
)
def test_fallback_check_catches_broken_variants(breaker: Callable[[dict[str, Any]], Any]) -> None:
    broken = copy.deepcopy(ANSWERS)
    breaker(broken)
    assert fallback_problems(broken) != []


# ---------------------------------------------------------------- app.yaml

APP = load("app.yaml")


def form_of(parameters: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    return {s["variable"]: (kind, s) for item in parameters["user_input_form"] for kind, s in item.items()}


def app_problems(doc: dict[str, Any]) -> list[str]:
    problems = schema_errors("AppParameters", doc["parameters"])
    if problems:
        return problems
    meta = doc.get("app", {})
    if meta.get("mode") != "chat" or not meta.get("name") or not meta.get("default_conversation_name"):
        problems.append(f"app metadata incomplete: {meta}")
    for variable, (kind, settings) in form_of(doc["parameters"]).items():
        if kind == "select" and settings.get("default") not in (None, "", *settings["options"]):
            problems.append(f"{variable}: default is not one of the options")
    return problems


def test_app_fixture_is_valid() -> None:
    assert app_problems(APP) == []


def test_app_form_declares_the_reference_variables() -> None:
    form = form_of(APP["parameters"])
    assert form["book"][0] == "text-input" and form["book"][1]["required"] is True
    assert form["book"][1]["max_length"] == 48
    assert form["myName"][0] == "text-input" and form["myName"][1]["required"] is False
    assert form["myName"][1]["max_length"] == 32
    kinds = {kind for kind, _ in form.values()}
    assert {"select", "paragraph"} <= kinds
    params = APP["parameters"]
    assert len(params["suggested_questions"]) == 3 and params["speech_to_text"] == {"enabled": True}
    assert APP["app"]["default_conversation_name"] == "New conversation"


def test_suggested_questions_have_canned_answers() -> None:
    canned = {key(e["query"]) for e in ANSWERS["answers"]}
    assert all(key(q) in canned for q in APP["parameters"]["suggested_questions"])


def _select_without_options(doc: dict[str, Any]) -> None:
    next(i for i in doc["parameters"]["user_input_form"] if "select" in i)["select"].pop("options")


def _two_keys_in_one_item(doc: dict[str, Any]) -> None:
    doc["parameters"]["user_input_form"][0]["paragraph"] = {"label": "x", "variable": "x", "required": False}


def _default_not_an_option(doc: dict[str, Any]) -> None:
    next(i for i in doc["parameters"]["user_input_form"] if "select" in i)["select"]["default"] = "sarcastic"


@pytest.mark.parametrize(
    "breaker",
    [
        lambda d: d["parameters"].pop("user_input_form"),
        lambda d: d["parameters"].update(more_like_this=False),
        lambda d: d["parameters"]["user_input_form"][0]["text-input"].pop("variable"),
        _select_without_options,
        _two_keys_in_one_item,
        _default_not_an_option,
        lambda d: d["app"].update(mode="completion"),
    ],
)
def test_app_check_catches_broken_variants(breaker: Callable[[dict[str, Any]], Any]) -> None:
    broken = copy.deepcopy(APP)
    breaker(broken)
    assert app_problems(broken) != []


# ---------------------------------------------------------------- users.yaml

USERS = load("users.yaml")


def inputs_problems(form: dict[str, tuple[str, dict[str, Any]]], inputs: dict[str, Any]) -> list[str]:
    """The rule the server enforces on `inputs` (sendChatMessage), applied to seeded data."""
    problems = [f"unknown variable {v}" for v in inputs if v not in form]
    for variable, (kind, settings) in form.items():
        value = inputs.get(variable)
        if settings["required"] and value in (None, ""):
            problems.append(f"{variable} is required")
        if isinstance(value, str) and "max_length" in settings and len(value) > settings["max_length"]:
            problems.append(f"{variable} is longer than {settings['max_length']}")
        if kind == "select" and value not in (None, "") and value not in settings["options"]:
            problems.append(f"{variable}: {value!r} is not an option")
    return problems


def users_problems(doc: dict[str, Any]) -> list[str]:
    form = form_of(APP["parameters"])
    problems: list[str] = []
    ids: list[str] = []
    for user in doc["users"]:
        for conv in user["conversations"]:
            where = f"{user['user']}/{conv.get('id')}"
            listed = {k: v for k, v in conv.items() if k != "messages"}
            problems += [f"{where}: {e}" for e in schema_errors("Conversation", listed)]
            problems += [f"{where}: {e}" for e in inputs_problems(form, conv.get("inputs", {}))]
            if conv.get("status") != "normal":
                problems.append(f"{where}: status is not normal")
            ids.append(conv.get("id"))
            messages = conv.get("messages", [])
            times = [m.get("created_at") for m in messages]
            stamps = [*times, conv.get("created_at"), conv.get("updated_at")]
            if any(not isinstance(t, int) or not EARLIEST <= t < LATEST for t in stamps):
                problems.append(f"{where}: a time outside 2023-2026")
            if any(b <= a for a, b in zip(times, times[1:], strict=False)):
                problems.append(f"{where}: message times are not strictly increasing")
            first, last = (times[0], times[-1]) if times else (conv.get("created_at"), conv.get("created_at"))
            if conv.get("created_at") != first or conv.get("updated_at") != last:
                problems.append(f"{where}: created_at/updated_at are not its first/last message's")
            for msg in messages:
                item = {**HISTORY_DEFAULTS, **msg, "conversation_id": conv.get("id")}
                problems += [f"{where}/{msg.get('id')}: {e}" for e in schema_errors("HistoryMessage", item)]
                ids.append(msg.get("id"))
                if msg.get("inputs") != conv.get("inputs"):
                    problems.append(f"{where}/{msg.get('id')}: inputs differ from the conversation's")
                if msg.get("answer") != rule_answer(ANSWERS, str(msg.get("query"))):
                    problems.append(f"{where}/{msg.get('id')}: answer is not answers.yaml's for its query")
    if len(ids) != len(set(ids)):
        problems.append("ids are not unique")
    return problems


def conversations(user: str) -> list[dict[str, Any]]:
    return next(u["conversations"] for u in USERS["users"] if u["user"] == user)


def test_users_fixture_is_valid() -> None:
    assert users_problems(USERS) == []


def test_users_fixture_has_the_paging_shapes() -> None:
    abc = conversations("abc-123")
    assert len(abc) >= 25, "GET /conversations must span two pages at the default limit 20"
    sizes = sorted(len(c["messages"]) for c in abc)
    assert sizes[-1] == 47, "one conversation spans three pages of history at limit 20"
    assert len(conversations("lucy-7")) == 2
    assert not ({c["id"] for c in abc} & {c["id"] for c in conversations("lucy-7")})


def test_users_fixture_has_the_seed_exchange() -> None:
    exchanges = [[(m["query"], m["answer"]) for m in c["messages"]] for c in conversations("abc-123")]
    seed = [e for e in exchanges if e[:1] == [("Which movie is the best?", "It's Die Hard for sure.")]]
    assert seed and seed[0][1][0] == "Can you explain why?"
    queries = [m["query"] for u in USERS["users"] for c in u["conversations"] for m in c["messages"]]
    assert not any(re.search(r"\s[?!.,]", q) for q in queries), "stray space before punctuation"


def test_users_fixture_exercises_the_conversation_order_ties() -> None:
    abc = conversations("abc-123")
    updated = [c["updated_at"] for c in abc]
    both = [(c["updated_at"], c["created_at"]) for c in abc]
    assert len(set(updated)) < len(updated), "a tie on updated_at"
    assert len(set(both)) < len(both), "a tie on updated_at and created_at (ordered by id)"


def test_users_fixture_is_what_the_generator_writes() -> None:
    assert make_user_fixtures.generate() == (FIXTURES / "users.yaml").read_text(encoding="utf-8")


def _first_messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["users"][0]["conversations"][1]["messages"]


@pytest.mark.parametrize(
    "breaker",
    [
        lambda d: _first_messages(d)[3].update(created_at=_first_messages(d)[2]["created_at"]),
        lambda d: _first_messages(d)[0].update(feedback={"rating": "love"}),
        lambda d: _first_messages(d)[0].update(feedback="like"),
        lambda d: _first_messages(d)[0].pop("answer"),
        lambda d: _first_messages(d)[0].update(answer="Something else."),
        lambda d: _first_messages(d)[0].update(id="not-a-uuid"),
        lambda d: _first_messages(d)[1].update(id=_first_messages(d)[0]["id"]),
        lambda d: d["users"][0]["conversations"][1].update(updated_at=1),
        lambda d: d["users"][0]["conversations"][1]["inputs"].pop("book"),
        lambda d: d["users"][0]["conversations"][1]["inputs"].update(tone="sarcastic"),
        lambda d: d["users"][0]["conversations"][1]["inputs"].update(myName="x" * 33),
        lambda d: d["users"][0]["conversations"][0].pop("name"),
    ],
)
def test_users_check_catches_broken_variants(breaker: Callable[[dict[str, Any]], Any]) -> None:
    broken = copy.deepcopy(USERS)
    breaker(broken)
    assert users_problems(broken) != []


# ---------------------------------------------------------------- SSE parsing (WHATWG rules)


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Parse a complete event stream into SSE items {event?, data?, id?, retry?}.

    Lines end with CRLF, LF or CR; a blank line dispatches; `data` lines are joined with "\\n";
    one space after the colon is dropped; lines starting with ":" are comments; a line without a
    colon is a field with an empty value; an unterminated last line or frame is discarded.
    Unlike a browser, a frame with `event:` but no data (the `event: ping` keep-alive) is returned
    too, so that the tests can see and validate keep-alives.
    """
    text = text.removeprefix("\ufeff")
    lines = re.split(r"\r\n|\r|\n", text)[:-1]
    items: list[dict[str, Any]] = []
    item: dict[str, Any] = {}
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                item["data"] = "\n".join(data)
            if data or "event" in item:
                items.append(item)
            item, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            item["event"] = value
        elif name == "id" and "\0" not in value:
            item["id"] = value
        elif name == "retry" and value.isdigit():
            item["retry"] = int(value)
    return items


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("data: a\n\n", [{"data": "a"}]),
        ("data:a\r\n\r\n", [{"data": "a"}]),
        ("data:  a\r\r", [{"data": " a"}]),
        ("data: a\ndata: b\n\n", [{"data": "a\nb"}]),
        (": comment\n\ndata: x\n\n", [{"data": "x"}]),
        ("event: ping\n\n", [{"event": "ping"}]),
        ("data\n\n", [{"data": ""}]),
        ("id: 7\nretry: 10\ndata: x\n\n", [{"id": "7", "retry": 10, "data": "x"}]),
        ("retry: soon\ndata: x\n\n", [{"data": "x"}]),
        ("data: complete\n\ndata: cut off", [{"data": "complete"}]),
        ("\ufeffdata: bom\n\n", [{"data": "bom"}]),
        ("\n\n\n", []),
    ],
)
def test_sse_parser(raw: str, expected: list[dict[str, Any]]) -> None:
    assert parse_sse(raw) == expected


# ---------------------------------------------------------------- golden streams

MANIFEST = load("streams/manifest.yaml")["streams"]
STREAM_IDS = [s["file"] for s in MANIFEST]


def read_stream(name: str) -> str:
    return (STREAMS / name).read_bytes().decode("utf-8")


def item_schema(operation_id: str) -> dict[str, Any]:
    return response_media(operation_id, "text/event-stream")["itemSchema"]


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def chat_stream_problems(items: list[dict[str, Any]], answer: str, ends_with: str) -> list[str]:
    """The Chat App stream rules of sendChatMessage, beyond the per-event schemas."""
    schema = item_schema("sendChatMessage")
    problems = [f"event {n}: {e}" for n, i in enumerate(items) for e in content_schema_errors(i, schema)]
    try:
        payloads = [json.loads(i["data"]) for i in items if "data" in i]
    except ValueError:
        return [*problems, "a data line is not JSON"]
    if not payloads or not all(isinstance(p, dict) for p in payloads):
        return [*problems, "no data events, or data that is not a JSON object"]
    kinds = [p.get("event") for p in payloads]
    terminal = [n for n, k in enumerate(kinds) if k in ("message_end", "error")]
    if terminal != [len(payloads) - 1]:
        problems.append(f"not exactly one terminal event at the end: {kinds}")
    if kinds[-1] != ends_with:
        problems.append(f"ends with {kinds[-1]}, expected {ends_with}")
    messages = [p for p in payloads if p.get("event") == "message"]
    got, expected = [m.get("answer") for m in messages], pieces(answer)
    if ends_with == "message_end" and got != expected:
        problems.append(f"pieces {got!r} are not the tokenizer's pieces of the answer")
    if ends_with == "error" and (got != expected[: len(got)] or len(got) >= len(expected)):
        problems.append("the pieces before the error are not a strict prefix of the answer's")
    for field in ("id", "message_id", "conversation_id", "task_id", "created_at"):
        carriers = messages + ([payloads[-1]] if field != "created_at" else [])
        if len({compact(p.get(field)) for p in carriers if field in p}) > 1:
            problems.append(f"{field} differs between events")
    for n, i in enumerate(items):
        if "data" in i and i["data"] != compact(json.loads(i["data"])):
            problems.append(f"event {n}: JSON is not compact")
    return problems


def completion_stream_problems(items: list[dict[str, Any]], answer: str) -> list[str]:
    """The chat completion stream rules of createChatCompletion, beyond the per-event schemas."""
    schema = item_schema("createChatCompletion")
    problems = [f"event {n}: {e}" for n, i in enumerate(items) for e in content_schema_errors(i, schema)]
    data = [i.get("data") for i in items]
    if not data or data[-1] != "[DONE]" or data.count("[DONE]") != 1:
        return [*problems, "the stream does not end with exactly one data: [DONE]"]
    try:
        chunks = [json.loads(d) for d in data[:-1]]
    except (TypeError, ValueError):
        return [*problems, "a chunk is not JSON"]
    if not all(isinstance(c, dict) and isinstance(c.get("choices"), list) for c in chunks):
        return [*problems, "a chunk is not an object with choices"]
    for field in ("id", "created", "model"):
        if len({compact(c.get(field)) for c in chunks}) != 1:
            problems.append(f"{field} differs between chunks")
    usage = [n for n, c in enumerate(chunks) if c.get("choices") == []]
    if usage and usage != [len(chunks) - 1]:
        problems.append("the usage chunk is not the single last chunk")
    choices = [c["choices"][0] for c in chunks if c.get("choices")]
    if len(choices) < 2:
        return [*problems, "too few chunks"]
    if choices[0]["delta"] != {"role": "assistant", "content": ""}:
        problems.append("first delta is not {role: assistant, content: ''}")
    if choices[-1]["delta"] != {} or choices[-1].get("finish_reason") != "stop":
        problems.append("last delta is not {} with finish_reason stop")
    middle = choices[1:-1]
    if [c["delta"] for c in middle] != [{"content": p} for p in pieces(answer)]:
        problems.append("content deltas are not the tokenizer's pieces of the answer")
    if any(c.get("finish_reason") is not None for c in choices[:-1]):
        problems.append("finish_reason set before the last chunk")
    return problems


def stream_problems(entry: dict[str, Any], items: list[dict[str, Any]]) -> list[str]:
    answer = rule_answer(ANSWERS, entry["query"])
    if entry["operation"] == "sendChatMessage":
        return chat_stream_problems(items, answer, entry["ends_with"])
    return completion_stream_problems(items, answer)


def test_manifest_lists_every_stream_file() -> None:
    listed = set(STREAM_IDS) | {s["blocking"] for s in MANIFEST if s["blocking"]}
    present = {p.name for p in STREAMS.iterdir() if p.is_file()} - {"README.md", "manifest.yaml"}
    assert listed == present
    readme = (STREAMS / "README.md").read_text(encoding="utf-8")
    assert all(f"`{name}`" in readme for name in present), "README.md describes every file"


@pytest.mark.parametrize("entry", MANIFEST, ids=STREAM_IDS)
def test_stream_request_is_valid(entry: dict[str, Any]) -> None:
    assert request_errors(entry["operation"], entry["request"]) == []
    text_field = "query" if entry["operation"] == "sendChatMessage" else "messages"
    said = entry["request"][text_field]
    assert (said if isinstance(said, str) else said[-1]["content"]) == entry["query"]


@pytest.mark.parametrize("entry", MANIFEST, ids=STREAM_IDS)
def test_stream_follows_the_contract(entry: dict[str, Any]) -> None:
    items = parse_sse(read_stream(entry["file"]))
    assert items
    assert stream_problems(entry, items) == []


@pytest.mark.parametrize("entry", MANIFEST, ids=STREAM_IDS)
def test_stream_bytes_are_whole_frames(entry: dict[str, Any]) -> None:
    raw = (STREAMS / entry["file"]).read_bytes()
    if entry["line_endings"] == "crlf":
        assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
        raw = raw.replace(b"\r\n", b"\n")
    else:
        assert b"\r" not in raw
    frames = raw.decode("utf-8").split("\n\n")
    assert frames[-1] == "", "the file ends with the blank line of its last frame"
    for frame in frames[:-1]:
        assert "\n" not in frame, f"one line per frame: {frame!r}"
        assert frame.startswith(("data: ", "event: ping", ":")), frame


def test_crlf_stream_parses_like_its_lf_twin() -> None:
    assert parse_sse(read_stream("die-hard.crlf.chat.sse")) == parse_sse(read_stream("die-hard.chat.sse"))


def test_ping_stream_has_a_keep_alive_in_the_middle() -> None:
    items = parse_sse(read_stream("explain-why.ping.chat.sse"))
    pings = [n for n, i in enumerate(items) if i.get("event") == "ping"]
    assert len(pings) == 1 and 0 < pings[0] < len(items) - 1
    assert "data" not in items[pings[0]]
    assert "\n: " in read_stream("explain-why.ping.chat.sse"), "and a comment frame"


def _usage(query: str, answer: str) -> dict[str, int]:
    prompt, completion = len(pieces(query)), len(pieces(answer))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _priced(usage: dict[str, Any]) -> dict[str, Any]:
    """`usage` with its prices recomputed from app.yaml's model, as Dify prices (7 places, half-up)."""
    model = load("app.yaml")["model"]
    out = dict(usage)
    for kind in ("prompt", "completion"):
        unit_price, price_unit = Decimal(model[f"{kind}_unit_price"]), Decimal(model["price_unit"])
        amount = Decimal(usage[f"{kind}_tokens"]) * unit_price * price_unit
        out[f"{kind}_price"] = str(amount.quantize(Decimal("1E-7"), rounding=ROUND_HALF_UP))
        out[f"{kind}_unit_price"], out[f"{kind}_price_unit"] = str(unit_price), str(price_unit)
    out["total_price"] = str(Decimal(out["prompt_price"]) + Decimal(out["completion_price"]))
    out["currency"] = model["currency"]
    return out


@pytest.mark.parametrize("entry", [s for s in MANIFEST if s["blocking"]], ids=lambda s: s["file"])
def test_blocking_form_agrees_with_the_stream(entry: dict[str, Any]) -> None:
    blocking = json.loads(read_stream(entry["blocking"]))
    data = [i["data"] for i in parse_sse(read_stream(entry["file"])) if "data" in i]
    payloads = [json.loads(d) for d in data if d != "[DONE]"]
    answer = rule_answer(ANSWERS, entry["query"])
    if entry["operation"] == "sendChatMessage":
        schema = response_media("sendChatMessage", "application/json")["schema"]
        assert schema == {"$ref": "#/components/schemas/ChatAppAnswer"}
        assert schema_errors("ChatAppAnswer", blocking) == []
        streamed = "".join(p["answer"] for p in payloads if p["event"] == "message")
        assert blocking["answer"] == streamed == answer
        for field in ("id", "message_id", "conversation_id", "task_id"):
            assert {p[field] for p in payloads} == {blocking[field]}
        assert blocking["created_at"] == payloads[0]["created_at"]
        usage = blocking["metadata"]["usage"]
        assert usage == payloads[-1]["metadata"]["usage"]
        assert {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")} == _usage(
            entry["query"], answer
        )
        assert _priced(usage) == usage
    else:
        assert schema_errors("ChatCompletionResponse", blocking) == []
        chunks = payloads
        content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
        assert blocking["choices"][0]["message"]["content"] == content == answer
        assert {(c["id"], c["created"], c["model"]) for c in chunks} == {
            (blocking["id"], blocking["created"], blocking["model"])
        }
        assert blocking["usage"] == _usage(entry["query"], answer)
        usage_chunks = [c["usage"] for c in chunks if not c["choices"]]
        assert usage_chunks in ([], [blocking["usage"]])


def test_golden_stream_ids_match_the_seeded_history() -> None:
    convs = [c for u in USERS["users"] for c in u["conversations"]]
    seeded = {m["id"]: (c["id"], m) for c in convs for m in c["messages"]}
    for name in ("die-hard.chat.json", "explain-why.chat.json"):
        blocking = json.loads(read_stream(name))
        conv_id, msg = seeded[blocking["id"]]
        assert (conv_id, msg["answer"], msg["created_at"]) == (
            blocking["conversation_id"],
            blocking["answer"],
            blocking["created_at"],
        )


def _chat_items(name: str = "die-hard.chat.sse") -> list[dict[str, Any]]:
    return parse_sse(read_stream(name))


def _edit_payload(items: list[dict[str, Any]], n: int, **changes: Any) -> list[dict[str, Any]]:
    payload = json.loads(items[n]["data"])
    payload.update(changes)
    items[n] = {"data": compact(payload)}
    return items


def _drop_field(items: list[dict[str, Any]], n: int, field: str) -> list[dict[str, Any]]:
    payload = json.loads(items[n]["data"])
    payload.pop(field)
    items[n] = {"data": compact(payload)}
    return items


OTHER_UUID = "00000000-0000-4000-8000-000000000000"
CHAT_BREAKERS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
    "piece missing": lambda it: it[:1] + it[2:],
    "pieces reordered": lambda it: [it[1], it[0], *it[2:]],
    "no terminal event": lambda it: it[:-1],
    "event after message_end": lambda it: [*it, it[0]],
    "two terminal events": lambda it: [*it[:-1], it[-1], it[-1]],
    "id changes": lambda it: _edit_payload(it, 2, id=OTHER_UUID),
    "conversation changes": lambda it: _edit_payload(it, 1, conversation_id=OTHER_UUID),
    "created_at changes": lambda it: _edit_payload(it, 3, created_at=1),
    "piece altered": lambda it: _edit_payload(it, 0, answer="Its"),
    "no event field (May-2023 format)": lambda it: _drop_field(it, 0, "event"),
    "unknown event type": lambda it: _edit_payload(it, 0, event="chunk"),
    "message without id": lambda it: _drop_field(it, 1, "id"),
    "spaced JSON": lambda it: [{"data": json.dumps(json.loads(it[0]["data"]))}, *it[1:]],
    "data not JSON": lambda it: [{"data": "It's"}, *it[1:]],
    "ping with data": lambda it: [it[0], {"event": "ping", "data": "x"}, *it[1:]],
}


@pytest.mark.parametrize("name", list(CHAT_BREAKERS))
def test_chat_stream_check_catches_broken_variants(name: str) -> None:
    answer = rule_answer(ANSWERS, "Which movie is the best?")
    assert chat_stream_problems(_chat_items(), answer, "message_end") == []
    assert chat_stream_problems(CHAT_BREAKERS[name](_chat_items()), answer, "message_end") != []


def test_error_stream_check_catches_a_message_end_after_the_error() -> None:
    items = _chat_items("plot.error.chat.sse")
    answer = rule_answer(ANSWERS, "Tell me the plot of Die Hard")
    assert chat_stream_problems(items, answer, "error") == []
    assert chat_stream_problems([*items, _chat_items()[-1]], answer, "error") != []
    assert chat_stream_problems(items[:-1], answer, "error") != []


COMPLETION_BREAKERS: dict[str, Callable[[list[dict[str, Any]]], list[dict[str, Any]]]] = {
    "no [DONE]": lambda it: it[:-1],
    "chunk after [DONE]": lambda it: [*it, it[1]],
    "no role delta": lambda it: it[1:],
    "no finish chunk": lambda it: [*it[:-2], it[-1]],
    "piece missing": lambda it: [it[0], *it[2:]],
    "id changes": lambda it: _edit_payload(it, 2, id="chatcmpl-other"),
    "wrong object": lambda it: _edit_payload(it, 1, object="chat.completion"),
    "finish_reason early": lambda it: _edit_payload(
        it, 1, choices=[{"index": 0, "delta": {"content": "It's"}, "finish_reason": "stop"}]
    ),
    "no choices key": lambda it: _drop_field(it, 1, "choices"),
}


@pytest.mark.parametrize("name", list(COMPLETION_BREAKERS))
def test_completion_stream_check_catches_broken_variants(name: str) -> None:
    answer = rule_answer(ANSWERS, "Which movie is the best?")
    good = _chat_items("die-hard.completions.sse")
    assert completion_stream_problems(good, answer) == []
    broken = COMPLETION_BREAKERS[name](_chat_items("die-hard.completions.sse"))
    assert completion_stream_problems(broken, answer) != []


# ---------------------------------------------------------------- audio

TRANSCRIPTIONS = load("audio/transcriptions.yaml")
AUDIO_TYPES = {
    t.strip()
    for t in operation("audioToText")["requestBody"]["content"]["multipart/form-data"]["encoding"]["file"][
        "contentType"
    ].split(",")
}


def test_audio_regenerates_byte_for_byte() -> None:
    generated = make_audio_fixtures.generate()
    committed = {p.name: p.read_bytes() for p in AUDIO.iterdir()}
    assert generated.keys() == committed.keys()
    for name, data in generated.items():
        assert committed[name] == data, f"{name} differs from tools/make_audio_fixtures.py's output"


def test_audio_transcriptions_match_the_files() -> None:
    entries = TRANSCRIPTIONS["transcriptions"]
    wavs = {p.name for p in AUDIO.glob("*.wav")}
    assert len(wavs) >= 3 and {e["file"] for e in entries.values()} == wavs
    for digest, entry in entries.items():
        data = (AUDIO / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
        assert len(data) < 50 * 1024
        with wave.open(io.BytesIO(data)) as clip:
            assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 8000)
            assert clip.getnframes() > 0
        assert entry["content_type"] in AUDIO_TYPES
        assert schema_errors("AudioText", {"text": entry["text"]}) == []
        assert entry["text"]


def test_audio_transcriptions_have_canned_answers() -> None:
    canned = {key(e["query"]) for e in ANSWERS["answers"]}
    assert all(key(e["text"]) in canned for e in TRANSCRIPTIONS["transcriptions"].values())


def test_unknown_audio_rule_is_documented() -> None:
    rule = TRANSCRIPTIONS["unknown"]
    assert "{seconds}" in rule["wav"] and "{bytes}" in rule["other"]
    assert rule["wav"].format(seconds="0.9") != rule["wav"]


def test_a_changed_byte_is_not_recognised() -> None:
    entry = next(iter(TRANSCRIPTIONS["transcriptions"].values()))
    data = bytearray((AUDIO / entry["file"]).read_bytes())
    data[-1] ^= 0x01
    assert hashlib.sha256(bytes(data)).hexdigest() not in TRANSCRIPTIONS["transcriptions"]


def test_oversized_audio_is_one_byte_over_the_limit(tmp_path: Path) -> None:
    body = operation("audioToText")["requestBody"]["content"]["multipart/form-data"]
    limit = resolve(resolve(body["schema"])["properties"]["file"])["x-max-bytes"]
    path = make_audio_fixtures.write_oversized(tmp_path / "too-large.wav", limit + 1)
    assert path.stat().st_size == limit + 1
    with wave.open(str(path)) as clip:  # well-formed: only the size is wrong
        assert clip.getnframes() == limit + 1 - 44


# ---------------------------------------------------------------- golden streams: the generator


def test_streams_regenerate_byte_for_byte(capsys: pytest.CaptureFixture[str]) -> None:
    generated = make_stream_fixtures.generate()
    committed = {p.name for p in STREAMS.iterdir() if p.is_file()}  # apps/: tools/make_app_streams.py
    assert set(generated) == committed - {"README.md", "manifest.yaml"}
    assert make_stream_fixtures.stale(generated) == []
    assert make_stream_fixtures.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_stream_generator_check_names_the_file_that_differs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in STREAMS.iterdir():
        if path.is_file():
            (tmp_path / path.name).write_bytes(path.read_bytes())
    crlf = tmp_path / "die-hard.crlf.chat.sse"
    crlf.write_bytes(crlf.read_bytes().replace(b"\r\n", b"\n", 1))
    (tmp_path / "explain-why.chat.json").unlink()
    monkeypatch.setattr(make_stream_fixtures, "STREAMS_DIR", tmp_path)
    assert make_stream_fixtures.main(["--check"]) == 1
    assert capsys.readouterr().out == "differs: die-hard.crlf.chat.sse, explain-why.chat.json\n"


def test_media_fixtures_regenerate_byte_for_byte() -> None:
    """fixtures/voice (the MP3 tone bank) and the poster are what tools/make_media_fixtures.py writes."""
    generated = make_media_fixtures.generate()
    assert {p: p.read_bytes() for p in generated} == generated
