"""The app modes the mock serves (fixtures/apps): each a correct server the suite must pass.

A variant serves one app under the gallery's key: the agent app streams only (a blocking request is
400, as on real servers) and answers in `agent_message` pieces after `agent_thought` steps; the
chatflow app wraps its answer in workflow, node and iteration events; the voice app interleaves
`tts_message` audio and ends with `tts_message_end` after `message_end`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, mock_app
from tests.conformance.rewrite import wrap


def serving(app_name: str) -> Callable[[App], App]:
    """The mock with the gallery's key bound to the app `fixtures/apps/<app_name>.yaml`."""
    return lambda app: mock_app(app_bindings={KEY: app_name})


def _info_mode(mode: str) -> Callable[[App], App]:
    def claim(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            body["mode"] = mode
        return code, body

    return lambda app: wrap(app, path=r"/v1/info$", json_response=claim)


def _auto_play(value: str) -> Callable[[App], App]:
    def say(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("text_to_speech"), dict):
            body["text_to_speech"]["autoPlay"] = value
        return code, body

    return lambda app: wrap(app, path=r"/v1/parameters$", json_response=say)


def _history(edit: Callable[[dict[str, Any]], None]) -> Callable[[App], App]:
    """History items edited by `edit` (what a server that keeps less than it streamed answers)."""

    def each(env: Any, code: int, body: Any) -> tuple[int, Any]:
        for item in body.get("data") or [] if code == 200 and isinstance(body, dict) else []:
            if isinstance(item, dict):
                edit(item)
        return code, body

    return lambda app: wrap(app, path=r"/v1/messages$", method="GET", json_response=each)


def _no_thoughts(item: dict[str, Any]) -> None:
    item["agent_thoughts"] = []


def _no_tool_files(item: dict[str, Any]) -> None:
    item["message_files"] = [f for f in item.get("message_files") or [] if f.get("belongs_to") != "assistant"]


def _unmoderated(item: dict[str, Any]) -> None:
    """The answer as the model wrote it, not as output moderation replaced it (fixtures/apps/chat.yaml)."""
    if str(item.get("answer", "")).startswith("Sorry, no spoilers"):
        item["answer"] = "Hans Gruber falls from the top of the Nakatomi Plaza tower and McClane saves Holly."


BROKEN: list[Variant] = [
    Variant(
        "history_drops_thoughts",
        "an agent app's history keeps none of the thoughts its streams showed",
        "streaming",
        lambda app: _history(_no_thoughts)(serving("agent")(app)),
        ("streaming.history_keeps_stream",),
    ),
    Variant(
        "history_drops_answer_files",
        "history keeps the user's files but not the ones the answer produced",
        "streaming",
        _history(_no_tool_files),
        ("streaming.history_keeps_stream",),
    ),
    Variant(
        "history_keeps_unmoderated_answer",
        "history keeps the answer output moderation replaced in the stream",
        "streaming",
        _history(_unmoderated),
        ("streaming.history_keeps_stream",),
    ),
    Variant(
        "chatflow_claims_chat",
        "a chatflow app whose GET /info says mode chat",
        "streaming",
        lambda app: _info_mode("chat")(serving("chatflow")(app)),
        ("streaming.app_mode",),
    ),
    Variant(
        "auto_play_off_but_spoken",
        "a voice app speaks every answer while /parameters says auto-play is disabled (SHOULD)",
        "streaming",
        lambda app: _auto_play("disabled")(serving("voice")(app)),
        ("streaming.auto_play",),
    ),
    Variant(
        "auto_play_on_but_silent",
        "/parameters says auto-play is enabled, the chat app never speaks (SHOULD)",
        "streaming",
        _auto_play("enabled"),
        ("streaming.auto_play",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "agent_chat_app",
        "an agent-chat app: streaming only (blocking is 400), agent thoughts, agent_message pieces",
        "chat,streaming,history,conversations,lifecycle",
        serving("agent"),
    ),
    Variant(
        "chatflow_app",
        "an advanced-chat app: workflow, node and iteration events around the answer",
        "chat,streaming,history",
        serving("chatflow"),
    ),
    Variant(
        "voice_app",
        "a chat app with text-to-speech auto-play: tts_message events, tts_message_end last",
        "chat,streaming",
        serving("voice"),
    ),
]
