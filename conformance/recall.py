"""What a stream delivered, held against what history keeps of it (the contract's `x-history`).

A chat UI that reloads a conversation draws it from `GET /messages`: the agent's thoughts with their
tools, the files the answer produced and the answer as output moderation left it must be what the
stream showed (SPEC_NOTES S28).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.grammar import REPLACE, event_annotations, grammar

MARKER = "x-history"


def rules() -> dict[str, dict[str, Any]]:
    """event type -> its `x-history` annotation (the judged era's contract)."""
    return event_annotations(MARKER)


@dataclass
class Recall:
    """How one stream's deliveries compare with its message's history item."""

    facets: set[str] = field(default_factory=set)  # what the stream delivered that history must keep
    problems: list[str] = field(default_factory=list)


def compare(payloads: Iterable[dict[str, Any]], item: dict[str, Any]) -> Recall:
    """The stream's events (in order) against the history item of their message."""
    payloads = list(payloads)
    result = Recall()
    last: dict[tuple[str, str], dict[str, Any]] = {}  # (event type, match value) -> its last state
    table = rules()
    for p in payloads:
        rule = table.get(event) if isinstance(event := p.get("event"), str) else None
        if rule is not None and p.get(rule["match"]) is not None:
            last[(p["event"], str(p[rule["match"]]))] = p
    for (event, key), p in last.items():
        rule = table[event]
        result.facets.add(event)
        kept = item.get(rule["list"])
        entry = next(
            (e for e in kept or [] if isinstance(e, dict) and str(e.get(rule["match"])) == key), None
        )
        if entry is None:
            result.problems.append(f"`{event}` {key} is not in the history item's `{rule['list']}`")
            continue
        for name in rule.get("fields") or ():
            if name in p and entry.get(name) != p[name]:
                result.problems.append(
                    f"`{event}` {key}: `{name}` was {_short(p[name])} in the stream, "
                    f"{_short(entry.get(name))} in `{rule['list']}`"
                )
    if any(grammar().role(p.get("event")) == REPLACE for p in payloads):
        result.facets.add("replaced answer")
        spelled = grammar().answer(payloads)
        if item.get("answer") != spelled:
            result.problems.append(
                f"the stream's answer after its replace is {_short(spelled)}, history keeps "
                f"{_short(item.get('answer'))}"
            )
    return result


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + f"...' ({len(text)} characters)"
