"""Record the mock's four apps through `chat-mock record`, replay the recordings under another mock.

The upstream is a real `chat-mock` process (gunicorn + gevent) with fixed pacing; each app is
recorded by its own recorder process; the recordings are then served by a second mock process
(`--app-dir` x 4). What the replay must show, against what the client saw while recording: the
same events in the same order (ids, times and signed URLs aside: they are fresh), the same
relative timing within a loose tolerance, the same errors (a 429 with its Retry-After, an `error`
event mid-stream, a dropped connection), the same file bytes, the same app documents; and the
conformance suite passes against it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from mock_server.recording import layout
from tests.conformance.harness import failed_checks, run_suite
from tests.recording.harness import Answer, chat, normalized, recorder
from tests.served import served_mock

UPSTREAM_PACING = ("--ttft-ms", "150", "--token-interval-ms", "25", "--jitter-ms", "0")
APP_KEYS = {
    "chat": "app-mock-dev-key",
    "agent": "app-mock-agent-key",
    "chatflow": "app-mock-chatflow-key",
    "voice": "app-mock-voice-key",
}
LONG = "Tell me the plot of Die Hard"  # the conformance suite's long answer (a stream to stop)


@dataclass
class Step:
    """One request of the script: sent through the recorder, then again to the replaying mock."""

    query: str
    streaming: bool = True
    fault: str | None = None  # X-Mock-Fault sent while recording (the upstream's failure)
    continues: int | None = None  # the index of the step whose conversation this continues


SCRIPTS: dict[str, list[Step]] = {
    "chat": [
        Step("Which movie is the best?"),
        Step("Can you explain why?", continues=0),  # the conversation goes on (turn 2)
        Step("Is Die Hard a Christmas movie?", streaming=False),
        Step("Show me the Die Hard poster"),  # a file answer (message_file)
        Step("How does Die Hard end?"),  # output moderation (message_replace)
        Step("Tell me a joke", fault="error_after=3"),  # an error event mid-stream
        Step("Rate me", streaming=False, fault="status=429;retry_after=2"),  # a 429 with Retry-After
        Step("Drop me", fault="disconnect_after=2"),  # the upstream drops the connection
        Step(LONG),
    ],
    "agent": [
        Step("Show me the Die Hard poster"),  # two tool calls and a file
        Step("Who directed Die Hard?"),
        Step("Who directed Die Hard?", streaming=False),  # agents stream only: a recorded 400
    ],
    "chatflow": [
        Step("Which movie is the best?"),  # the workflow's node and iteration events
        Step("Which movie is the best?", streaming=False),  # the same query, blocking: its own recording
        Step("Tell me a joke", fault="error_after=4"),  # the run fails: workflow_finished failed, error
    ],
    "voice": [
        Step("Which movie is the best?"),  # tts_message among the pieces and after message_end
        Step("Is Die Hard a Christmas movie?", streaming=False),
    ],
}
APP_PATHS = ("/parameters", "/info", "/site", "/meta")


@dataclass
class Session:
    dirs: dict[str, Path]
    keys: dict[str, str]  # app -> the replay key of its recording
    recorded: dict[str, list[Answer]]  # what the client saw through the recorder, per step
    replayed: dict[str, list[Answer]] = field(default_factory=dict)
    upstream_docs: dict[tuple[str, str], Any] = field(default_factory=dict)
    replay_docs: dict[tuple[str, str], Any] = field(default_factory=dict)
    poster: bytes = b""
    replayed_poster: bytes = b""
    suite: dict[str, Any] = field(default_factory=dict)
    histories: dict[str, list[Any]] = field(default_factory=dict)  # app -> [upstream's, replay's] history


def _run(base: str, key: str, script: list[Step], fault_header: bool) -> list[Answer]:
    answers: list[Answer] = []
    for step in script:
        conversation = ""
        if step.continues is not None:
            conversation = answers[step.continues].events[0]["conversation_id"]
        headers = {"X-Mock-Fault": step.fault} if step.fault and fault_header else None
        answers.append(
            chat(
                base, key, step.query, streaming=step.streaming, conversation_id=conversation, headers=headers
            )
        )
    return answers


def _history(base: str, key: str, answers: list[Answer]) -> list[Any]:
    """GET /messages of each conversation the answers started (what a UI rebuilds a chat from)."""
    out = []
    for answer in answers:
        first = answer.events[0] if answer.events else answer.body or {}
        if answer.status == 200 and "conversation_id" in first and not answer.broken:
            resp = requests.get(
                f"{base}/messages",
                headers={"Authorization": f"Bearer {key}"},
                params={"user": "rec-user", "conversation_id": first["conversation_id"]},
            )
            out.append(resp.json())
    return out


def _file_url(answer: Answer) -> str:
    return next(e["url"] for e in answer.events if e.get("event") == "message_file")


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("recordings")
    dirs = {app: root / app for app in APP_KEYS}
    recorded: dict[str, list[Answer]] = {}
    docs: dict[tuple[str, str], Any] = {}
    poster = b""
    histories: dict[str, list[Any]] = {}
    with served_mock(*UPSTREAM_PACING) as upstream:
        for app, key in APP_KEYS.items():
            for path in APP_PATHS:
                resp = requests.get(f"{upstream.url}/v1{path}", headers={"Authorization": f"Bearer {key}"})
                docs[(app, path)] = resp.json()
            with recorder(upstream.url, key, dirs[app]) as rec:
                recorded[app] = _run(rec.url, f"app-recorded-{app}", SCRIPTS[app], fault_header=True)
                if app == "chat":  # the file answer's URL, as the client got it (the upstream's)
                    poster = requests.get(_file_url(recorded["chat"][3])).content
            histories[app] = [_history(f"{upstream.url}/v1", key, recorded[app])]
            assert rec.proc.returncode == 0, rec.output
        keys = {app: f"app-recorded-{app}" for app in APP_KEYS}
        session = Session(dirs, keys, recorded, upstream_docs=docs, histories=histories)
        session.poster = poster
    app_dirs = [arg for app in APP_KEYS for arg in ("--app-dir", str(dirs[app]))]
    with served_mock(*app_dirs, "--replay-speed", "1", "--ping-interval", "5") as replay:
        base = f"{replay.url}/v1"
        for app in APP_KEYS:
            session.replayed[app] = _run(base, session.keys[app], SCRIPTS[app], fault_header=False)
            session.histories[app].append(_history(base, session.keys[app], session.replayed[app]))
            for path in APP_PATHS:
                resp = requests.get(f"{base}{path}", headers={"Authorization": f"Bearer {session.keys[app]}"})
                session.replay_docs[(app, path)] = resp.json()
        session.replayed_poster = requests.get(_file_url(session.replayed["chat"][3])).content
        session.suite = run_suite(
            replay.url,
            "chat,streaming,history,conversations,lifecycle",
            key=session.keys["chat"],
            timeout=300,
        )
    yield session


def test_every_exchange_is_recorded_as_a_file_a_person_reads(session: Session) -> None:
    for app, script in SCRIPTS.items():
        files = layout.exchange_files(session.dirs[app])
        assert len(files) == len(script), [f.name for f in files]
        for step, path in zip(script, files, strict=True):
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            assert doc["request"]["body"]["query"] == step.query
            assert path.name.endswith(layout.slug(step.query) + ".yaml")
        app_doc = yaml.safe_load((session.dirs[app] / layout.APP_FILE).read_text(encoding="utf-8"))
        assert app_doc["key"] == session.keys[app]
        assert app_doc["parameters"] == session.upstream_docs[(app, "/parameters")]


def test_the_recording_holds_what_the_client_saw(session: Session) -> None:
    """The recorded events are the relayed ones, in order (the file URL without its signature)."""
    for app, script in SCRIPTS.items():
        for step, answer, path in zip(
            script, session.recorded[app], layout.exchange_files(session.dirs[app]), strict=True
        ):
            response = yaml.safe_load(path.read_text(encoding="utf-8"))["response"]
            assert response["status"] == answer.status, (app, step.query)
            if answer.frames:
                events = [e["data"] for e in response["events"]]
                assert normalized(events) == normalized(answer.events), (app, step.query)
                times = [e["at"] for e in response["events"]]
                assert times == sorted(times) and times[0] > 0.1  # the upstream's time to first token
            else:
                assert normalized(response["body"]) == normalized(answer.body), (app, step.query)


def test_the_replay_sends_the_same_events_in_the_same_order(session: Session) -> None:
    for app, script in SCRIPTS.items():
        for step, before, after in zip(script, session.recorded[app], session.replayed[app], strict=True):
            where = (app, step.query, step.streaming)
            assert after.status == before.status, where
            assert after.types == before.types, where
            assert normalized(after.events) == normalized(before.events), where
            assert normalized(after.body) == normalized(before.body), where
            assert after.broken == before.broken, where


def test_the_replay_answers_under_fresh_ids(session: Session) -> None:
    for app in SCRIPTS:
        for before, after in zip(session.recorded[app], session.replayed[app], strict=True):
            for old, new in zip(before.events, after.events, strict=True):
                for name in ("task_id", "message_id", "conversation_id"):
                    if name in old:
                        assert new[name] != old[name]


def test_the_replay_keeps_the_recorded_timing(session: Session) -> None:
    """Each event comes when it came while recording, within 0.3 s plus 30 % (a loaded machine)."""
    drift = []
    for app, script in SCRIPTS.items():
        for step, before, after in zip(script, session.recorded[app], session.replayed[app], strict=True):
            if not before.frames:
                continue
            for (t_before, _), (t_after, _) in zip(before.frames, after.frames, strict=True):
                assert abs(t_after - t_before) <= 0.3 + 0.3 * t_before, (app, step.query, t_before, t_after)
                drift.append(t_after - t_before)
            span_before = before.frames[-1][0] - before.frames[0][0]
            span_after = after.frames[-1][0] - after.frames[0][0]
            assert span_after >= 0.7 * span_before, (app, step.query)  # paced, not all at once
    print(
        f"replay timing drift over {len(drift)} events: median {statistics.median(drift) * 1000:.1f} ms, "
        f"max {max(drift, key=abs) * 1000:.1f} ms"
    )


def test_recorded_failures_replay_as_recorded(session: Session) -> None:
    chat_before, chat_after = session.recorded["chat"], session.replayed["chat"]
    error_before, error_after = chat_before[5], chat_after[5]
    assert error_before.types[-1] == error_after.types[-1] == "error"
    assert error_after.events[-1]["code"] == error_before.events[-1]["code"]
    rate_before, rate_after = chat_before[6], chat_after[6]
    assert rate_before.status == rate_after.status == 429
    assert rate_after.headers["Retry-After"] == rate_before.headers["Retry-After"] == "2"
    assert rate_after.body == rate_before.body
    drop_before, drop_after = chat_before[7], chat_after[7]
    assert drop_before.broken and drop_after.broken and drop_after.types == drop_before.types
    agent_blocking = session.replayed["agent"][2]
    assert agent_blocking.status == 400 and "blocking" in agent_blocking.body["message"]
    flow = session.replayed["chatflow"][2]
    assert flow.types[-2:] == ["workflow_finished", "error"]
    assert flow.events[-2]["data"]["status"] == "failed"


def test_the_replayed_file_serves_the_recorded_bytes(session: Session) -> None:
    assert session.poster.startswith(b"\x89PNG") and session.replayed_poster == session.poster


def test_the_replay_serves_the_recorded_app(session: Session) -> None:
    for (app, path), doc in session.upstream_docs.items():
        assert session.replay_docs[(app, path)] == doc, (app, path)


def test_the_conformance_suite_passes_the_replaying_mock(session: Session) -> None:
    doc = session.suite
    assert doc["exit_code"] == 0 and not failed_checks(doc), doc["output"]
    assert any(r["outcome"] == "passed" and r["check"].startswith("streaming.") for r in doc["results"])


def without_file_names(page: dict[str, Any]) -> dict[str, Any]:
    """A history page without the names of the files answers made: no event carries one, and the
    mock's signed previews do not say it (SPEC_NOTES R4); the recording names them by their id."""
    for message in page["data"]:
        for made in message["message_files"]:
            if made["belongs_to"] == "assistant":
                made["filename"] = "<name>"
    return page


def test_the_replayed_history_is_the_recorded_apps(session: Session) -> None:
    """GET /messages after the replay shows what it showed after the recording: the answers (the
    moderated one replaced), the agent's thoughts, the files the answers made."""
    for app, (before, after) in session.histories.items():
        assert len(after) == len(before) > 0
        for page_before, page_after in zip(before, after, strict=True):
            assert normalized(without_file_names(page_after)) == normalized(
                without_file_names(page_before)
            ), app
    agent_poster = session.histories["agent"][1][0]["data"][0]
    assert (
        len(agent_poster["agent_thoughts"]) == 3
        and agent_poster["message_files"][0]["belongs_to"] == "assistant"
    )
