"""The apps the mock serves: each API key is one app with a mode, its own /parameters and replies.

An app is a file `fixtures/apps/<name>.yaml` layered over `fixtures/app.yaml` (the reference app):
its `app` block (name, mode, ...) and `parameters` are merged key by key over the reference app's,
so an app states only how it differs. `reply` is what every answer of the app carries (agent
thoughts, a workflow run), `replies` what the answers to given queries carry on top of it
(files, a moderated answer). How those become stream events is mock_server/replies.py; this module
only loads and checks the data. Variation is data: no handler branches on an app's name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.config import DEFAULT_API_KEY
from mock_server.engine import match_key
from mock_server.usage import ModelPricing
from mock_server.yamlload import load_yaml

MODES = ("chat", "agent-chat", "advanced-chat")  # the contract's ChatAppMode
REPLY_KEYS = {"answer", "thoughts", "files", "workflow", "moderation"}


class AppError(ValueError):
    """An app file that cannot be served; the message names the file and the field."""


def merged(base: Any, over: Any) -> Any:
    """`over` laid over `base`: mappings merge key by key, anything else replaces."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = merged(base.get(key), value)
        return out
    return copy.deepcopy(over)


@dataclass(frozen=True)
class App:
    """One app: its key, mode, what GET /parameters answers, and its canned reply data."""

    name: str  # the file's stem: `--app KEY=NAME` refers to it
    key: str  # the API key the default setup gives it
    mode: str
    title: str
    parameters: dict[str, Any]
    default_conversation_name: str
    pricing: ModelPricing
    reply: dict[str, Any] = field(default_factory=dict)
    replies: dict[str, dict[str, Any]] = field(default_factory=dict)  # match_key(query) -> reply
    default: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    # A recorded app (`--app-dir`): its answers come from its recording (a recording.replay.Replay),
    # not from the canned replies; None for the apps of fixtures/apps.
    recording: Any = None

    @property
    def tts_autoplay(self) -> bool:
        """Text-to-speech auto-play on: streams carry the spoken answer (`tts_message` events)."""
        tts = self.parameters.get("text_to_speech") or {}
        return bool(tts.get("enabled")) and tts.get("autoPlay") == "enabled"

    def reply_for(self, query: str) -> dict[str, Any]:
        """What the answer to `query` carries: the app's `reply`, overlaid by a matching `replies` entry."""
        return merged(self.reply, self.replies.get(match_key(query), {}))


def _check_reply(where: str, reply: Any) -> dict[str, Any]:
    if not isinstance(reply, dict):
        raise AppError(f"{where}: must be a mapping")
    unknown = sorted(set(reply) - REPLY_KEYS - {"query"})
    if unknown:
        raise AppError(f"{where}.{unknown[0]}: unknown field (a reply has {sorted(REPLY_KEYS)})")
    return {k: v for k, v in reply.items() if k != "query"}


def app_from_doc(name: str, doc: dict[str, Any], base: dict[str, Any]) -> App:
    """An App from its file's document, layered over the reference app document `base`."""
    where = f"fixtures/apps/{name}.yaml"
    if not isinstance(doc, dict) or not isinstance(doc.get("key"), str) or not doc["key"].strip():
        raise AppError(f"{where}: key is required (the API key of the app)")
    info = merged(base.get("app") or {}, doc.get("app") or {})
    mode = info.get("mode", "chat")
    if mode not in MODES:
        raise AppError(f"{where}: app.mode must be one of {list(MODES)}, got {mode!r}")
    parameters = merged(base.get("parameters") or {}, doc.get("parameters") or {})
    replies: dict[str, dict[str, Any]] = {}
    for n, entry in enumerate(doc.get("replies") or []):
        if not isinstance(entry, dict) or not isinstance(entry.get("query"), str):
            raise AppError(f"{where}: replies[{n}].query is required")
        replies[match_key(entry["query"])] = _check_reply(f"{where}: replies[{n}]", entry)
    return App(
        name=name,
        key=doc["key"].strip(),
        mode=mode,
        title=str(info.get("name", name)),
        parameters=parameters,
        default_conversation_name=str(info.get("default_conversation_name", "New conversation")),
        pricing=ModelPricing.from_fixture(merged(base.get("model") or {}, doc.get("model") or {})),
        reply=_check_reply(f"{where}: reply", doc.get("reply") or {}),
        replies=replies,
        default=bool(doc.get("default")),
        raw={**doc, "app": info},
    )


def load_apps(directory: Path, base: dict[str, Any]) -> list[App]:
    """The apps of `directory/apps/*.yaml` (by name); without any, the reference app alone."""
    files = sorted((directory / "apps").glob("*.yaml")) if (directory / "apps").is_dir() else []
    apps = [app_from_doc(f.stem, load_yaml(f.read_text(encoding="utf-8")) or {}, base) for f in files]
    if not apps:
        apps = [app_from_doc("chat", {"key": DEFAULT_API_KEY, "default": True}, base)]
    keys = [a.key for a in apps]
    clash = sorted({k for k in keys if keys.count(k) > 1})
    if clash:
        raise AppError(f"fixtures/apps: key {clash[0]!r} belongs to two apps")
    defaults = [a for a in apps if a.default]
    if len(defaults) > 1:
        raise AppError(f"fixtures/apps: two default apps ({defaults[0].name}, {defaults[1].name})")
    return sorted(apps, key=lambda a: (not a.default, a.name))  # the default app first


class Apps:
    """Which app each accepted API key is.

    A key bound with `--app KEY=NAME` is that app; a key that is an app's own key is that app; any
    other accepted key (given with --api-key or $CHAT_MOCK_API_KEYS) is the default app. An era
    without app modes (2023) serves every key as the default app.
    """

    def __init__(self, apps: list[App], bindings: dict[str, str] | None = None, modes: bool = True) -> None:
        self.apps = apps
        self.modes = modes
        self.by_name = {a.name: a for a in apps}
        self.by_key = {a.key: a for a in apps}
        self.default = apps[0]
        self.bindings: dict[str, App] = {}
        for key, name in (bindings or {}).items():
            if name not in self.by_name:
                raise AppError(f"--app {key}={name}: no app {name!r} (known: {sorted(self.by_name)})")
            self.bindings[key] = self.by_name[name]

    @property
    def keys(self) -> list[str]:
        """The apps' own keys, the default app's first: what the mock accepts when given no keys."""
        return [a.key for a in self.apps]

    def for_key(self, key: str) -> App:
        if not self.modes:
            return self.default
        return self.bindings.get(key) or self.by_key.get(key) or self.default
