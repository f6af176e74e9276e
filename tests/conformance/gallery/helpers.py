"""What every gallery module shares: the Variant record and rewriting helpers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.conformance.rewrite import map_frames, wrap

App = Callable[..., Any]


@dataclass(frozen=True)
class Variant:
    name: str
    description: str
    areas: str
    make: Callable[[App], App]
    catches: tuple[str, ...] = ()  # broken variants: the check id(s) that must fail
    extra: tuple[str, ...] = field(default=())


CONV_ARGS = ("--conversational-url", "{root}")
COMPLETIONS_ARGS = ("--chat-completions-url", "{root}/v1")


def _json_everywhere(fn: Callable[[Any], Any]) -> Callable[[App], App]:
    """Rewrite every JSON answer and every stream frame with `fn`."""

    def make(app: App) -> App:
        return wrap(app, json_response=lambda env, code, body: (code, fn(body)), stream=map_frames(fn))

    return make


def _deep(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[Any], Any]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return fn({k: walk(v) for k, v in node.items()})
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk


def _stream_bytes(fn: Callable[[Iterator[bytes]], Iterator[bytes]]) -> Callable[[App], App]:
    def make(app: App) -> App:
        return wrap(app, stream=lambda env, chunks: fn(chunks))

    return make
