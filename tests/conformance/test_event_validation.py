"""The suite's fast judgement of a stream event (by its own type's schema) agrees with the full walk
of the item schema, on every golden stream event and on broken copies of them, and names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance import contract
from conformance.sse import parse

STREAMS = Path(__file__).resolve().parents[2] / "fixtures" / "streams"
CHAT_STREAMS = sorted(p for p in STREAMS.rglob("*.sse") if ".completions" not in p.name)


def _events(path: Path) -> list[dict]:
    return [e.item() for e in parse(path.read_bytes())]


def _schema() -> dict:
    schema = contract.operation("sendChatMessage").item_schema(200)
    assert schema is not None
    return schema


@pytest.mark.parametrize("path", CHAT_STREAMS, ids=[p.name for p in CHAT_STREAMS])
def test_golden_events_are_valid_both_ways(path: Path) -> None:
    schema = _schema()
    items = _events(path)
    assert items
    for item in items:
        assert contract.item_errors(schema, item) == contract.walk_errors(schema, item) == [], item


def _broken(item: dict, change) -> dict:
    payload = json.loads(item["data"])
    change(payload)
    return {**item, "data": json.dumps(payload)}


BREAKS = {
    "milliseconds": (lambda p: p.__setitem__("created_at", p["created_at"] * 1000 + 0.5), "created_at"),
    "no conversation_id": (lambda p: p.pop("conversation_id"), "conversation_id"),
    "id not a string": (lambda p: p.__setitem__("message_id", 7), "message_id"),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_broken_events_fail_both_ways_and_the_fast_one_names_the_field(name: str) -> None:
    schema = _schema()
    change, field = BREAKS[name]
    by_type = {}  # one event of each type (the full walk is slow)
    for item in (i for p in CHAT_STREAMS for i in _events(p) if "data" in i and "created_at" in i["data"]):
        by_type.setdefault(json.loads(item["data"])["event"], item)
    assert len(by_type) >= 8, sorted(by_type)
    for item in by_type.values():
        payload = json.loads(item["data"])
        if field not in payload:
            continue
        bad = _broken(item, change)
        fast, walk = contract.item_errors(schema, bad), contract.walk_errors(schema, bad)
        assert fast and walk, (name, payload["event"])
        assert any(field in line for line in fast), (name, fast)
