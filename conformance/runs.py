"""The grammar of a run inside a stream, read from the contract's `x-run` annotations.

A chatflow stream is a workflow run: nodes, iterations and loops open and close in pairs by their
ids, rounds step in order, nodes of an iteration run while it is open, and every event of the run
names the same run. An agent stream numbers its thoughts: a thought sent again keeps its number, a
new one gets a higher number. The contract's description of `ChatStreamEvent` defines the
annotations; this module only applies them (SPEC_NOTES S26), so an event type a release adds is a
change to openapi.yaml.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from conformance import contract
from conformance.grammar import event_annotations

MARKER = "x-run"
_UNSET = object()


def value_at(payload: Any, path: str) -> Any:
    """The value at a dotted path (`data.id`), or _UNSET when it is absent."""
    node = payload
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _UNSET
        node = node[part]
    return node


@cache
def _rules(era: str) -> dict[str, dict[str, Any]]:
    """event type -> its `x-run` annotation, for the judged era (`era` keys the cache)."""
    return event_annotations(MARKER)


def rules() -> dict[str, dict[str, Any]]:
    return _rules(contract.era())


@dataclass
class _Scope:
    kind: str
    key: Any
    name: Any
    opened_at: int
    index: Any = _UNSET


@dataclass
class RunCheck:
    """The run grammar applied to one stream's events, in order."""

    problems: list[str] = field(default_factory=list)
    open: dict[tuple[str, str], _Scope] = field(default_factory=dict)
    closed: dict[tuple[str, str], _Scope] = field(default_factory=dict)
    numbered: dict[str, dict[str, Any]] = field(default_factory=dict)  # kind -> key -> index
    top_level_keys: dict[str, str] = field(default_factory=dict)  # field name -> scope kind
    judged: int = 0

    def feed(self, i: int, payload: dict[str, Any]) -> None:
        event = payload.get("event")
        self._owner(i, payload)
        rule = rules().get(event) if isinstance(event, str) else None
        if rule is None or not isinstance(event, str):
            return
        self.judged += 1
        if "opens" in rule:
            self._opens(i, event, payload, rule)
        elif "closes" in rule:
            self._closes(i, event, payload, rule)
        elif "steps" in rule:
            self._steps(i, event, payload, rule)
        elif "numbers" in rule:
            self._numbers(i, event, payload, rule)

    def end(self, ended_well: bool) -> list[str]:
        """The problems found; a stream that ended with `message_end` must leave no scope open."""
        if ended_well:
            for scope in self.open.values():
                self.problems.append(
                    f"the {scope.kind} {_shown(scope)} opened at event {scope.opened_at} never closes"
                )
        return self.problems

    def _ident(self, kind: str, key: Any) -> tuple[str, str]:
        return kind, repr(key)

    def _opens(self, i: int, event: str, payload: dict[str, Any], rule: dict[str, Any]) -> None:
        kind, key = rule["opens"], value_at(payload, rule["key"])
        if key is _UNSET:
            return  # its schema is streaming.events_valid's to judge
        ident = self._ident(kind, key)
        name = value_at(payload, rule["name"]) if "name" in rule else _UNSET
        if ident in self.open or ident in self.closed:
            self.problems.append(f"event {i} `{event}` opens the {kind} {key!r} a second time")
            return
        for within, path in (rule.get("within") or {}).items():
            outer = value_at(payload, path)
            if outer in (_UNSET, None, ""):
                continue
            if not any(s.kind == within and s.name == outer for s in self.open.values()):
                self.problems.append(
                    f"event {i} `{event}` ({kind} {_name(name, key)}) runs in the {within} {outer!r}, "
                    f"which is not open"
                )
        if "." not in rule["key"]:
            self.top_level_keys[rule["key"]] = kind
        self.open[ident] = _Scope(kind, key, name, i)

    def _closes(self, i: int, event: str, payload: dict[str, Any], rule: dict[str, Any]) -> None:
        kind, key = rule["closes"], value_at(payload, rule["key"])
        if key is _UNSET:
            return
        ident = self._ident(kind, key)
        scope = self.open.pop(ident, None)
        if scope is None:
            again = "again, after it closed" if ident in self.closed else "but it never opened"
            self.problems.append(f"event {i} `{event}` closes the {kind} {key!r} {again}")
            return
        name = value_at(payload, rule["name"]) if "name" in rule else _UNSET
        if name is not _UNSET and scope.name is not _UNSET and name != scope.name:
            self.problems.append(
                f"event {i} `{event}` closes the {kind} {key!r} as {name!r}, opened as {scope.name!r}"
            )
        self.closed[ident] = scope

    def _steps(self, i: int, event: str, payload: dict[str, Any], rule: dict[str, Any]) -> None:
        kind, key = rule["steps"], value_at(payload, rule["key"])
        if key is _UNSET:
            return
        scope = self.open.get(self._ident(kind, key))
        if scope is None:
            where = "after it closed" if self._ident(kind, key) in self.closed else "before it opened"
            self.problems.append(f"event {i} `{event}`: a round of the {kind} {key!r} {where}")
            return
        index = value_at(payload, rule["index"])
        if isinstance(index, int) and isinstance(scope.index, int) and index <= scope.index:
            self.problems.append(
                f"event {i} `{event}`: round {index} of the {kind} {key!r} after round {scope.index}"
            )
        scope.index = index

    def _numbers(self, i: int, event: str, payload: dict[str, Any], rule: dict[str, Any]) -> None:
        kind, key = rule["numbers"], value_at(payload, rule["key"])
        index = value_at(payload, rule["index"])
        if key is _UNSET or index is _UNSET:
            return
        seen = self.numbered.setdefault(kind, {})
        if repr(key) in seen:
            if seen[repr(key)] != index:
                self.problems.append(
                    f"event {i} `{event}`: the {kind} {key!r} was number {seen[repr(key)]!r}, now {index!r}"
                )
            return
        earlier = [v for v in seen.values() if isinstance(v, int)]
        if isinstance(index, int) and earlier and index <= max(earlier):
            self.problems.append(
                f"event {i} `{event}`: a new {kind} {key!r} numbered {index}, not above {max(earlier)}"
            )
        if any(v == index for v in seen.values()):
            self.problems.append(f"event {i} `{event}`: a second {kind} numbered {index!r}")
        seen[repr(key)] = index

    def _owner(self, i: int, payload: dict[str, Any]) -> None:
        """An event naming a top-level scope key (`workflow_run_id`) belongs to that open scope."""
        for fieldname, kind in self.top_level_keys.items():
            value = payload.get(fieldname, _UNSET)
            if value is _UNSET or value is None:
                continue
            runs = [s for s in [*self.open.values(), *self.closed.values()] if s.kind == kind]
            if runs and all(s.key != value for s in runs):
                self.problems.append(
                    f"event {i} `{payload.get('event')}` names the {kind} {value!r}, "
                    f"not the stream's {runs[0].key!r}"
                )


def _name(name: Any, key: Any) -> str:
    return repr(name) if name is not _UNSET and name is not None else repr(key)


def _shown(scope: _Scope) -> str:
    if scope.name is not _UNSET and scope.name is not None:
        return f"{scope.name!r} ({scope.key!r})"
    return repr(scope.key)


def run_problems(payloads: Iterable[dict[str, Any]], ended_well: bool) -> tuple[list[str], int]:
    """(what breaks the run grammar, how many events the grammar judged) for one stream."""
    check = RunCheck()
    for i, payload in enumerate(payloads):
        check.feed(i, payload)
    return check.end(ended_well), check.judged
