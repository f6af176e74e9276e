"""The grammar of a run (contract `x-run`): workflow runs of the chatflow app, thoughts of the agent.

Each event of these streams may be valid on its own while the run they tell makes no sense: a node
that finishes without starting, iteration rounds after the iteration completed, node events of
another run, a thought that changes its id or numbers that go backwards (SPEC_NOTES S26).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, mock_app
from tests.conformance.rewrite import frame_json, frames, map_frames, wrap

CHAT = r"/v1/chat-messages$"


def on_app(name: str, make: Callable[[App], App]) -> Callable[[App], App]:
    """The defect on the mock whose gallery key is the app `fixtures/apps/<name>.yaml`."""
    return lambda _app: make(mock_app(app_bindings={KEY: name}))


def _frames(fn: Callable[[Iterator[bytes]], Iterator[bytes]]) -> Callable[[App], App]:
    return lambda app: wrap(app, path=CHAT, method="POST", stream=lambda env, chunks: fn(frames(chunks)))


def _events(fn: Callable[[Any], Any]) -> Callable[[App], App]:
    return lambda app: wrap(app, path=CHAT, method="POST", stream=map_frames(fn))


def _without_node_starts(payload: Any) -> Any:
    return None if isinstance(payload, dict) and payload.get("event") == "node_started" else payload


def _rounds_after_completion(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Every iteration round is held back and sent after `iteration_completed`."""
    held: list[bytes] = []
    for frame in chunks:
        event = (frame_json(frame) or {}).get("event")
        if event == "iteration_next":
            held.append(frame)
            continue
        yield frame
        if event == "iteration_completed":
            yield from held
            held = []
    yield from held


def _another_run(payload: Any) -> Any:
    if isinstance(payload, dict) and str(payload.get("event", "")).startswith("node_"):
        payload["workflow_run_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, "another-run"))
    return payload


def _thought_ids_change() -> Callable[[Any], Any]:
    """A thought sent again (to add its observation) comes back under a new id."""
    seen: set[str] = set()

    def change(payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("event") == "agent_thought":
            if payload.get("id") in seen:
                payload["id"] = str(uuid.uuid4())
            seen.add(payload["id"])
        return payload

    return change


def _thought_positions_count_down(payload: Any) -> Any:
    if isinstance(payload, dict) and payload.get("event") == "agent_thought":
        payload["position"] = 100 - int(payload.get("position") or 0)
    return payload


def _answer_before_its_node(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """As a real Dify 1.12.1 chatflow did: the answer's pieces stream before the node that makes
    them reports its start (the LLM node's node_started comes right after its pieces)."""
    held: bytes | None = None
    for frame in chunks:
        payload = frame_json(frame) or {}
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        if payload.get("event") == "node_started" and data.get("node_type") == "llm":
            held = frame
            continue
        if held is not None and payload.get("event") not in ("message", "agent_message"):
            yield held
            held = None
        yield frame
    if held is not None:
        yield held


BROKEN: list[Variant] = [
    Variant(
        "node_finished_without_start",
        "a chatflow's nodes finish without having started",
        "streaming",
        on_app("chatflow", _events(_without_node_starts)),
        ("streaming.run",),
    ),
    Variant(
        "iteration_rounds_after_completion",
        "a chatflow's iteration rounds arrive after iteration_completed",
        "streaming",
        on_app("chatflow", _frames(_rounds_after_completion)),
        ("streaming.run",),
    ),
    Variant(
        "node_events_of_another_run",
        "a chatflow's node events name another workflow run than workflow_started's",
        "streaming",
        on_app("chatflow", _events(_another_run)),
        ("streaming.run",),
    ),
    Variant(
        "thought_ids_change",
        "an agent's thought comes back under a new id when it is completed",
        "streaming",
        on_app("agent", lambda app: _events(_thought_ids_change())(app)),
        ("streaming.run",),
    ),
    Variant(
        "thought_positions_count_down",
        "an agent's new thoughts are numbered downwards",
        "streaming",
        on_app("agent", _events(_thought_positions_count_down)),
        ("streaming.run",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "answer_before_its_node",
        "a chatflow streams its answer before the node that makes it starts (Dify 1.12.1)",
        "streaming",
        on_app("chatflow", _frames(_answer_before_its_node)),
    ),
]
