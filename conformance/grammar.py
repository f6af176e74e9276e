"""The grammar of a Chat App stream, read from the contract's event annotations.

Every event schema of `ChatStreamEvent` carries `x-stream-role` (where the event may stand) and
`x-app-modes` (which apps send it); the contract's description of `ChatStreamEvent` defines the
roles. The suite reads them here (data, not code), so a new event type, or a role that real servers
turn out to use differently, is a change to openapi.yaml and every stream check follows it.

The order rules (SPEC_NOTES S11):
- exactly one `terminal` event (`message_end`, `error`, `workflow_paused`);
- `piece`, `replace` and `progress` events come before it;
- `trailer` events (`tts_message`, `workflow_finished`) may come before or after it;
- a `final` event (`tts_message_end`) comes after it, and only `keepalive` and unknown events follow;
- event types the contract does not know are legal anywhere and are ignored (the set is open).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from conformance import contract

PIECE, REPLACE, PROGRESS, TERMINAL = "piece", "replace", "progress", "terminal"
TRAILER, FINAL, KEEPALIVE, UNKNOWN = "trailer", "final", "keepalive", "unknown"
ROLES = (PIECE, REPLACE, PROGRESS, TERMINAL, TRAILER, FINAL, KEEPALIVE, UNKNOWN)
BEFORE_TERMINAL = {PIECE, REPLACE, PROGRESS}
STREAM_EVENT_SCHEMA = "ChatStreamEvent"


@dataclass(frozen=True)
class EventKind:
    """One event type the contract knows: its role and the app modes whose streams carry it."""

    name: str
    role: str
    modes: tuple[str, ...]
    schema: dict[str, Any]  # the event's schema as ChatStreamEvent names it (a $ref)


@dataclass(frozen=True)
class Grammar:
    kinds: dict[str, EventKind]

    def role(self, event_type: Any) -> str:
        """The role of an event type (`unknown` for any type the contract does not know)."""
        kind = self.kinds.get(event_type) if isinstance(event_type, str) else None
        return kind.role if kind else UNKNOWN

    def schema(self, event_type: Any) -> dict[str, Any] | None:
        """The contract's schema of a known event type (None: a type the contract does not know)."""
        kind = self.kinds.get(event_type) if isinstance(event_type, str) else None
        return kind.schema if kind else None

    def types(self, role: str) -> tuple[str, ...]:
        return tuple(name for name, kind in self.kinds.items() if kind.role == role)

    def violations(self, event_types: Iterable[Any]) -> list[str]:
        """What breaks the order rules in a whole stream's event types (data events, in order)."""
        problems: list[str] = []
        terminal: tuple[int, str] | None = None
        final: tuple[int, str] | None = None
        for i, name in enumerate(event_types):
            role = self.role(name)
            if role in (UNKNOWN, KEEPALIVE):
                continue
            if final is not None:
                problems.append(f"event {i} `{name}` ({role}) after the final event {final[0]} `{final[1]}`")
            elif role == TERMINAL:
                if terminal is not None:
                    problems.append(
                        f"a second terminal event {i} `{name}` after event {terminal[0]} `{terminal[1]}`"
                    )
                else:
                    terminal = (i, str(name))
            elif role in BEFORE_TERMINAL and terminal is not None:
                problems.append(
                    f"event {i} `{name}` ({role}) after the terminal event {terminal[0]} `{terminal[1]}`"
                )
            elif role == FINAL:
                if terminal is None:
                    problems.append(f"the final event {i} `{name}` before any terminal event")
                final = (i, str(name))
        return problems

    def terminals(self, event_types: Iterable[Any]) -> list[int]:
        """Positions of the terminal events."""
        return [i for i, name in enumerate(event_types) if self.role(name) == TERMINAL]

    def answer(self, payloads: Iterable[dict[str, Any]]) -> str:
        """The answer a stream spells: its pieces in order, restarted by each `replace`."""
        text = ""
        for p in payloads:
            role = self.role(p.get("event"))
            if role == PIECE:
                text += str(p.get("answer", ""))
            elif role == REPLACE:
                text = str(p.get("answer", ""))
        return text


def _const_event(schema: Any, depth: int = 0) -> str | None:
    """The `event` const of an event schema (in its properties or any allOf part)."""
    schema = contract.resolve(schema)
    if not isinstance(schema, dict) or depth > 8:
        return None
    const = (schema.get("properties") or {}).get("event", {}).get("const")
    if isinstance(const, str):
        return const
    for part in schema.get("allOf") or []:
        found = _const_event(part, depth + 1)
        if found:
            return found
    return None


@cache
def _grammar(era: str) -> Grammar:
    schemas = contract.document()["components"]["schemas"]
    kinds: dict[str, EventKind] = {}
    for branch in schemas[STREAM_EVENT_SCHEMA].get("oneOf") or []:
        schema = contract.resolve(branch)
        name = _const_event(schema)
        role = schema.get("x-stream-role")
        if name is None or role is None:  # ChatUnknownEvent: any other type
            continue
        if role not in ROLES:
            raise ValueError(f"{name}: x-stream-role {role!r} is not one of {', '.join(ROLES)}")
        kinds[name] = EventKind(name, role, tuple(schema.get("x-app-modes") or ()), branch)
    return Grammar(kinds)


def event_annotations(marker: str) -> dict[str, dict[str, Any]]:
    """event type -> the value of its schema's annotation `marker` (`x-run`, `x-history`), for every
    event type of the judged era that carries one."""
    out = {}
    for name, kind in grammar().kinds.items():
        value = contract.resolve(kind.schema).get(marker)
        if isinstance(value, dict):
            out[name] = value
    return out


def grammar() -> Grammar:
    """The grammar of the era being judged (the 2023 era knows fewer event types)."""
    return _grammar(contract.era())
