"""The app modes the mock serves (fixtures/apps): each a correct server the suite must pass.

A variant serves one app under the gallery's key: the agent app streams only (a blocking request is
400, as on real servers) and answers in `agent_message` pieces after `agent_thought` steps; the
chatflow app wraps its answer in workflow, node and iteration events; the voice app interleaves
`tts_message` audio and ends with `tts_message_end` after `message_end`.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, mock_app


def serving(app_name: str) -> Callable[[App], App]:
    """The mock with the gallery's key bound to the app `fixtures/apps/<app_name>.yaml`."""
    return lambda app: mock_app(app_bindings={KEY: app_name})


BROKEN: list[Variant] = []

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
