"""What the chat POST path computes once instead of per request gives what it computed before."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from mock_server import engine as engine_module
from mock_server.config import MockConfig
from mock_server.contract import Contract
from mock_server.engine import Engine
from mock_server.ids import random_id


def test_random_ids_are_version_4_uuids_as_text() -> None:
    ids = [random_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, dashed: what str(uuid.uuid4()) gives
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    # every hex digit outside the fixed ones takes many values (no bit stuck by the mask)
    for position in (0, 9, 15, 20, 35):
        assert len({text[position] for text in ids}) > 8
    assert {text[14] for text in ids} == {"4"} and {text[19] for text in ids} == set("89ab")


def _walked_default(contract: Contract, schemas: list[dict[str, Any]], name: str) -> Any:
    """The per-request walk body_default used to make."""
    for schema in schemas:
        prop = contract.resolve(contract.resolve(schema).get("properties", {}).get(name, {}))
        if "default" in prop:
            return prop["default"]
    return None


@pytest.mark.parametrize("era", ["current", "2023"])
def test_body_defaults_are_what_the_contract_walk_finds(era: str) -> None:
    contract = Contract(MockConfig().contract_file(), era)
    seen = 0
    for op in contract.operations:
        schemas = list(op.body_schemas.values())
        names = {n for s in schemas for n in (contract.resolve(s).get("properties") or {})}
        for name in names | {"no_such_field"}:
            assert op.body_defaults.get(name) == _walked_default(contract, schemas, name), (op, name)
        seen += len(op.body_defaults)
    assert seen  # auto_generate_name, response_mode, ... have defaults
    send = contract.operation("sendChatMessage").body_defaults
    assert "auto_generate_name" in send or era == "2023"


@pytest.mark.parametrize("tokenizer", [engine_module.DEFAULT_TOKENIZER, r"\w+"])
def test_cached_pieces_and_counts_are_the_tokenizers(monkeypatch, tokenizer: str) -> None:
    monkeypatch.setattr(engine_module, "CACHE_ENTRIES", 3)
    eng = Engine({"tokenizer": tokenizer})
    pattern = re.compile(tokenizer)
    texts = [
        "Hello there, world.",
        "",
        "  spaced  out ",
        "x" * 5000,
        "a b c",
        "Hello there, world.",
        "déjà vu",
    ]
    for _ in range(2):
        for text in texts:
            found = pattern.findall(text)
            want = found if "".join(found) == text else [text]
            assert eng.pieces(text) == (want or [""])
            assert eng.count_tokens(text) == len(found)
    assert len(eng._pieces) <= 3 and all(len(t) <= engine_module.CACHED_TEXT_MAX for t in eng._pieces)
    pieces = eng.pieces("a b c")
    pieces.append("changed")  # a caller's list is its own
    assert eng.pieces("a b c") == ["a", " b", " c"] or tokenizer != engine_module.DEFAULT_TOKENIZER
