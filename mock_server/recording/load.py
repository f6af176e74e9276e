"""Load a recording directory as an app of the mock, checked against the contract.

The app's documents must be what the contract says the operations answer (`AppParameters`,
`AppInfo`, `AppSite`, `AppMeta`): otherwise the app cannot be served (AppError). Each exchange
is checked as POST /_mock/fixtures checks a document (fixtures.check_component, the contract's
schemas, the path of the first bad value): every stream event against `ChatStreamEvent` (and the
app mode's `x-app-modes`), a blocking answer against `ChatAppAnswer`, an error body against
`ChatAppError`. An exchange the contract refuses is left out and reported (`problems`), never served.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.apps import MODES, App, AppError
from mock_server.contract import Contract
from mock_server.fixtures import FixtureError, check_component
from mock_server.recording import layout
from mock_server.recording.replay import FALLBACKS, Exchange, Fallback, RecordedFile, Replay
from mock_server.replies import StreamVocabulary
from mock_server.usage import ModelPricing
from mock_server.yamlload import load_yaml

APP_SCHEMAS = {"parameters": "AppParameters", "app": "AppInfo", "site": "AppSite", "meta": "AppMeta"}
ENDS = {"complete", "disconnected", "cut", "client_closed"}


@dataclass
class RecordedApps:
    apps: list[App] = field(default_factory=list)
    bindings: dict[str, str] = field(default_factory=dict)  # the config's, directories named by app
    problems: list[str] = field(default_factory=list)  # exchanges left out, and why


def is_directory_binding(value: str, app_names: set[str]) -> bool:
    """Whether `--app KEY=VALUE` names a recording directory rather than an app of fixtures/apps."""
    if value in app_names:
        return False
    return "/" in value or os.sep in value or Path(value).is_dir()


def recorded_apps(
    app_dirs: list[str],
    bindings: dict[str, str],
    app_names: set[str],
    contract: Contract,
    speed: float = 1.0,
    fallback: str | None = None,
    exchanges: bool = True,
) -> RecordedApps:
    """The apps of `app_dirs` and of the directories `bindings` name (AppError when one cannot be
    served); `app_names` are the names already taken (fixtures/apps). Without `exchanges`, only
    the apps' documents are read (what a start-up line names)."""
    out = RecordedApps(bindings=dict(bindings))
    directories = list(app_dirs)
    for value in bindings.values():
        if is_directory_binding(value, app_names):
            directories.append(value)
    loaded: dict[Path, App] = {}
    taken = set(app_names)
    keys: dict[str, Path] = {}
    vocabulary = StreamVocabulary(contract.doc)
    for raw in directories:
        directory = Path(raw).resolve()
        if directory in loaded:
            continue
        app, problems = load_recording(directory, contract, vocabulary, speed, fallback, exchanges)
        if app.name in taken:
            raise AppError(
                f"--app-dir {raw}: an app named {app.name!r} is already served (rename the directory)"
            )
        if app.key in keys:
            raise AppError(
                f"--app-dir {raw}: key {app.key!r} is also {keys[app.key]}'s (set another `key` in app.yaml)"
            )
        taken.add(app.name)
        keys[app.key] = directory
        loaded[directory] = app
        out.apps.append(app)
        out.problems.extend(problems)
    for key, value in bindings.items():
        if is_directory_binding(value, app_names):
            out.bindings[key] = loaded[Path(value).resolve()].name
    return out


def load_recording(
    directory: Path,
    contract: Contract,
    vocabulary: StreamVocabulary,
    speed: float = 1.0,
    fallback: str | None = None,
    exchanges: bool = True,
) -> tuple[App, list[str]]:
    """The App a recording directory serves, and the problems of the exchanges left out."""
    where = f"--app-dir {directory}: {layout.APP_FILE}"
    if not (directory / layout.APP_FILE).is_file():
        raise AppError(f"--app-dir {directory}: no {layout.APP_FILE} (record one with `chat-mock record`)")
    try:
        doc = load_yaml((directory / layout.APP_FILE).read_text(encoding="utf-8"))
    except Exception as exc:
        raise AppError(f"{where}: cannot be read: {' '.join(str(exc).split())}") from exc
    if not isinstance(doc, dict):
        raise AppError(f"{where}: must be a mapping")
    if doc.get("format", layout.FORMAT) != layout.FORMAT:
        raise AppError(f"{where}: format {doc.get('format')!r} is not {layout.FORMAT}")
    if not isinstance(doc.get("parameters"), dict):
        raise AppError(f"{where}: parameters is required (the app's GET /parameters)")
    for name, schema in APP_SCHEMAS.items():
        if name in doc:
            try:
                check_component(contract, schema, doc[name], name)
            except FixtureError as exc:
                raise AppError(f"{where}: {exc}") from exc
    info = doc.get("app") or {}
    mode = info.get("mode")
    if mode not in MODES:
        raise AppError(f"{where}: app.mode must be one of {list(MODES)} (a chat app), got {mode!r}")
    key = doc.get("key") or layout.default_replay_key(directory)
    if not isinstance(key, str) or not key.strip():
        raise AppError(f"{where}: key must be a string (the API key to serve the app under)")
    replay = doc.get("replay") or {}
    rule = fallback or replay.get("fallback", "nearest")
    if rule not in FALLBACKS:
        raise AppError(f"{where}: replay.fallback must be one of {list(FALLBACKS)}, got {rule!r}")
    answer = replay.get("answer")
    loaded, problems = load_exchanges(directory, contract, vocabulary, mode) if exchanges else ([], [])
    recording = Replay(
        loaded,
        vocabulary,
        mode,
        speed,
        Fallback(rule, str(answer)) if isinstance(answer, str) else Fallback(rule),
        problems,
    )
    raw = {name: doc[name] for name in ("app", "site", "meta") if isinstance(doc.get(name), dict)}
    app = App(
        name=f"recorded/{directory.name}",  # beside fixtures/apps' names, never one of them
        key=key.strip(),
        mode=mode,
        title=str(info.get("name") or directory.name),
        parameters=doc["parameters"],
        default_conversation_name="New conversation",
        pricing=ModelPricing(),
        raw=raw,
        recording=recording,
    )
    return app, problems


def load_exchanges(
    directory: Path, contract: Contract, vocabulary: StreamVocabulary, mode: str
) -> tuple[list[Exchange], list[str]]:
    exchanges: list[Exchange] = []
    problems: list[str] = []
    check_event = _event_checker(contract)
    for path in layout.exchange_files(directory):
        label = f"{directory.name}/{layout.EXCHANGES}/{path.name}"
        try:
            doc = load_yaml(path.read_text(encoding="utf-8"))
            exchange, notes = _exchange(directory, path.name, doc, contract, vocabulary, mode, check_event)
        except (FixtureError, ValueError, TypeError) as exc:
            problems.append(f"{label}: {exc} (not served)")
            continue
        except Exception as exc:  # a file that is not YAML at all
            problems.append(f"{label}: cannot be read: {' '.join(str(exc).split())[:200]} (not served)")
            continue
        problems.extend(f"{label}: {note}" for note in notes)
        exchanges.append(exchange)
    _link_conversations(exchanges)
    return exchanges, problems


def _event_checker(contract: Contract) -> Callable[[Any, str], None]:
    """Check one event against ChatStreamEvent: the compiled quick check first (a recording holds
    thousands of events); when it fails, the schema its `event` names (the discriminator's mapping),
    whose first error says what is wrong (ChatStreamEvent's would be about the other branches)."""
    quick = contract.quick_check({"$ref": "#/components/schemas/ChatStreamEvent"})
    stream_event = contract.doc["components"]["schemas"]["ChatStreamEvent"]
    mapping = stream_event.get("discriminator", {}).get("mapping", {})

    def check(event: Any, where: str) -> None:
        if quick(event):
            return
        ref = mapping.get(event.get("event")) if isinstance(event, dict) else None
        check_component(contract, ref.rsplit("/", 1)[-1] if ref else "ChatStreamEvent", event, where)
        check_component(contract, "ChatStreamEvent", event, where)  # whatever the quick check saw

    return check


def _exchange(
    directory: Path,
    name: str,
    doc: Any,
    contract: Contract,
    vocabulary: StreamVocabulary,
    mode: str,
    check_event: Callable[[Any, str], None],
) -> tuple[Exchange, list[str]]:
    if not isinstance(doc, dict):
        raise FixtureError("", "an exchange is a mapping with `request` and `response`")
    request, response = doc.get("request"), doc.get("response")
    body = request.get("body") if isinstance(request, dict) else None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise FixtureError("request.body.query", "is required (the recorded chat message's query)")
    if not isinstance(response, dict) or not isinstance(response.get("status"), int):
        raise FixtureError("response.status", "is required (an HTTP status)")
    status = response["status"]
    end = response.get("end", "complete")
    if end not in ENDS:
        raise FixtureError("response.end", f"must be one of {sorted(ENDS)}, got {end!r}")
    events: list[tuple[float, dict[str, Any]]] = []
    raw_events = response.get("events")
    if status == 200 and raw_events is not None:
        if not isinstance(raw_events, list):
            raise FixtureError("response.events", "must be a list")
        for n, entry in enumerate(raw_events):
            at_path = f"response.events[{n}]"
            if not isinstance(entry, dict) or "data" not in entry:
                raise FixtureError(at_path, "is not a JSON event (a frame the contract refuses)")
            at = entry.get("at", 0)
            if (
                isinstance(at, bool)
                or not isinstance(at, int | float)
                or not math.isfinite(at)
                or not 0 <= at <= 3600
            ):
                raise FixtureError(f"{at_path}.at", f"must be seconds within 0..3600, got {at!r}")
            data = entry["data"]
            check_event(data, f"{at_path}.data")
            kind = data.get("event")
            if kind in vocabulary.roles and not vocabulary.carries(kind, mode):
                raise FixtureError(
                    f"{at_path}.data.event", f"{kind!r} is not an event of a {mode} app's stream"
                )
            events.append((float(at), data))
    elif status == 200:
        check_component(contract, "ChatAppAnswer", response.get("body"), "response.body")
    elif status >= 400:
        check_component(contract, "ChatAppError", response.get("body"), "response.body")
    else:
        raise FixtureError("response.status", f"{status} is no answer the mock replays (200, 4xx or 5xx)")
    elapsed = response.get("elapsed", events[-1][0] if events else 0.0)
    if isinstance(elapsed, bool) or not isinstance(elapsed, int | float) or not 0 <= elapsed <= 3600:
        raise FixtureError("response.elapsed", f"must be seconds within 0..3600, got {elapsed!r}")
    notes: list[str] = []
    files: dict[str, RecordedFile] = {}
    for file_id, record in (doc.get("files") or {}).items():
        path = layout.inside(directory, str((record or {}).get("path", "")))
        if path is None or not path.is_file():
            notes.append(f"files.{file_id}: no such file in the recording; its event keeps the recorded URL")
            continue
        mime = str(record.get("mime_type") or "application/octet-stream")
        files[str(file_id)] = RecordedFile(path, mime, str(record.get("name") or path.name))
    headers = response.get("headers") or {}
    turn = doc.get("turn")
    exchange = Exchange(
        name=name,
        query=body["query"],
        inputs=inputs if isinstance(inputs := body.get("inputs"), dict) else {},
        streaming=body.get("response_mode") == "streaming",
        status=status,
        turn=turn if isinstance(turn, int) and not isinstance(turn, bool) else None,
        conversation=doc.get("conversation") if isinstance(doc.get("conversation"), str) else None,
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
        body=response.get("body"),
        events=events,
        streamed=status == 200 and raw_events is not None,
        end=end,
        elapsed=float(elapsed),
        files=files,
    )
    return exchange, notes


def _link_conversations(exchanges: list[Exchange]) -> None:
    """Each exchange's previous query in its recorded conversation (recorded order)."""
    last: dict[str, str] = {}
    for exchange in exchanges:
        if not exchange.conversation:
            continue
        if exchange.turn != 1:
            exchange.previous_query = last.get(exchange.conversation)
        if exchange.status < 400:
            last[exchange.conversation] = exchange.query
