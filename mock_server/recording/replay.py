"""Replay: a recorded app's answers as the mock's replies.

A recorded app (`chat-mock --app-dir DIR`) carries a Replay instead of canned replies. For each
chat message it picks a recorded exchange and turns it into a `replies.Reply`, which the chat
handler stores and streams like any answer (stops, faults, history, feedback and renames work as
for the canned apps):

- Picking: the exchanges whose query is the message's (casefolded, stripped). Among them, the
  best fit: the same response mode, the same place in its conversation (turn), the same query
  before it in the conversation, the same inputs. Recordings that fit equally well answer in
  turn (a query recorded failing and then succeeding fails once, then succeeds). A query nobody
  recorded gets the app's fallback: `nearest` (the most similar recorded query), `answer` (a
  fixed answer) or `error` (a 404 naming the query).
- Ids: the answer's own ids (task, message, conversation, the workflow run, node runs, thoughts,
  files) become this message's: the head ids are the handler's, the others uuid5 of the message id
  and the recorded id; the end user's id and name become the caller's; times (`created_at`,
  `finished_at`) move to now, keeping their distances.
- Timing: each event is due when it came while recording (`at`, seconds after the request),
  divided by the replay speed (0: no waits); a blocking answer comes after the recorded time.
- Failures replay as recorded: a 4xx/5xx answer is raised as that error (with Retry-After), a
  stream's `error` event ends the stream, a stream the upstream dropped drops the connection.
"""

from __future__ import annotations

import difflib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mock_server.engine import match_key
from mock_server.errors import ApiError
from mock_server.replies import AssistantFile, Event, Piece, Reply, StreamVocabulary
from mock_server.streaming import Wait

FALLBACKS = ("nearest", "answer", "error")
DEFAULT_FALLBACK_ANSWER = "Sorry, I have no recorded answer to that."
REPLAY_NAMESPACE = uuid.UUID("0b8f1f7e-5a4c-4c38-9d2e-7f4e3c1a9b21")
UUID_TEXT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# keys whose UUID values are the answer's own (made anew for each answer); others (workflow_id,
# dataset and document ids of citations, the app's id) are the app's and stay as recorded
ANSWER_ID_KEYS = {
    "id",
    "task_id",
    "message_id",
    "conversation_id",
    "workflow_run_id",
    "iteration_id",
    "loop_id",
    "parallel_id",
    "parent_parallel_id",
    "node_execution_id",
    "sys.conversation_id",
    "sys.workflow_run_id",
}
TIME_KEYS = {"created_at", "finished_at", "updated_at"}
USER_KEYS = {"user", "sys.user_id"}


@dataclass
class RecordedFile:
    """A file an answer produced, as recorded (its bytes in DIR/files)."""

    path: Path
    mime_type: str
    name: str  # as the answer named it (else the recorded file's)


@dataclass
class Exchange:
    """One recorded chat exchange, as loaded (and checked) from DIR/exchanges."""

    name: str  # the file's name, for messages
    query: str
    inputs: dict[str, Any]
    streaming: bool
    status: int
    turn: int | None = None
    conversation: str | None = None  # the recorded conversation's id
    previous_query: str | None = None  # the query before it in its recorded conversation
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # a blocking answer or an error body
    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    streamed: bool = False  # answered as a stream (its events, possibly none), not a JSON body
    end: str = "complete"  # complete | disconnected | cut | client_closed
    elapsed: float = 0.0
    files: dict[str, RecordedFile] = field(default_factory=dict)  # message_file id -> bytes
    _ids: RecordedIds | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> str:
        return match_key(self.query)

    def ids(self) -> RecordedIds:
        """The ids its answer names (found on first use, then kept: every replay maps the same)."""
        if self._ids is None:
            self._ids = recorded_ids(self)
        return self._ids


@dataclass
class ReplayRequest:
    """What the chat handler knows of the message a recording answers."""

    query: str
    inputs: dict[str, Any]
    streaming: bool
    turn: int  # the message's place in its conversation, from 1
    previous_query: str | None  # the conversation's query before this one
    head: dict[str, str]  # task_id, message_id, conversation_id of this answer
    created_at: int
    user: str
    end_user_id: str
    url_of: Callable[[AssistantFile], str]  # the signed URL of a file the answer produced
    pieces: Callable[[str], list[str]]  # the mock's tokenizer (a blocking recording streamed)
    # how often a group of equally fitting exchanges (named by their joined file names) has answered
    # before, counted in the shared store: every worker holds its own copy of the recording
    served_before: Callable[[str], int]
    release: Callable[[], None] = lambda: None  # let go of the database before a recorded wait


@dataclass
class Fallback:
    rule: str = "nearest"
    answer: str = DEFAULT_FALLBACK_ANSWER


class Replay:
    """The reply source of one recorded app."""

    def __init__(
        self,
        exchanges: list[Exchange],
        vocabulary: StreamVocabulary,
        mode: str,
        speed: float = 1.0,
        fallback: Fallback | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.exchanges = exchanges
        self.vocabulary = vocabulary
        self.mode = mode
        self.speed = speed
        self.fallback = fallback or Fallback()
        self.problems = problems or []  # exchanges left out at load, and why
        self._by_key: dict[str, list[Exchange]] = {}
        for exchange in exchanges:
            self._by_key.setdefault(exchange.key, []).append(exchange)

    # ------------------------------------------------------------------ picking

    def pick(self, req: ReplayRequest) -> Exchange | None:
        """The exchange that answers `req`, or None (fallback `answer`)."""
        candidates = self._by_key.get(match_key(req.query))
        if not candidates:
            if self.fallback.rule == "error" or not self.exchanges:
                known = ", ".join(repr(q) for q in sorted(self._by_key)[:5])
                raise ApiError(
                    404,
                    f"chat-mock replay: no recorded exchange answers the query {req.query!r}"
                    + (f" (recorded: {known}{', ...' if len(self._by_key) > 5 else ''})" if known else ""),
                    "not_found",
                    param="query",
                )
            if self.fallback.rule == "answer":
                return None
            candidates = self._nearest(req.query)
        scored = [(self._fit(e, req), n, e) for n, e in enumerate(candidates)]
        best = max(s for s, _, _ in scored)
        group = [e for s, _, e in scored if s == best]
        if len(group) == 1:
            return group[0]
        # equally good recordings answer in turn, across every worker of the mock
        return group[req.served_before("\n".join(e.name for e in group)) % len(group)]

    def _nearest(self, query: str) -> list[Exchange]:
        wanted = match_key(query)
        scores = {k: difflib.SequenceMatcher(None, wanted, k).ratio() for k in self._by_key}
        best = max(scores.values())
        return [e for e in self.exchanges if scores[e.key] == best]

    @staticmethod
    def _fit(exchange: Exchange, req: ReplayRequest) -> tuple[int, ...]:
        same_previous = (
            exchange.previous_query is not None
            and req.previous_query is not None
            and (match_key(exchange.previous_query) == match_key(req.previous_query))
        )
        return (
            int(exchange.streaming == req.streaming),
            int(exchange.turn == req.turn),
            int(same_previous),
            int(exchange.inputs == req.inputs),
        )

    # ------------------------------------------------------------------ the reply

    def wait(self, seconds: float, req: ReplayRequest) -> None:
        if seconds > 0 and self.speed > 0:
            req.release()
            time.sleep(seconds / self.speed)

    def due(self, at: float) -> float:
        return at / self.speed if self.speed > 0 else 0.0

    def reply(self, req: ReplayRequest) -> Reply:
        exchange = self.pick(req)
        if exchange is None:  # fallback `answer`: the fixed answer, at the request's pacing
            return _plain_reply(self.fallback.answer, req.pieces)
        if exchange.status >= 400:
            self.wait(exchange.elapsed, req)
            raise _recorded_error(exchange)
        ids = _IdMap(exchange, req)
        if not exchange.streamed:  # a blocking recording
            body = exchange.body if isinstance(exchange.body, dict) else {}
            answer = str(body.get("answer", ""))
            reply = _plain_reply(answer, req.pieces)
            reply.metadata = (
                ids.remap(body.get("metadata")) if isinstance(body.get("metadata"), dict) else None
            )
            if not req.streaming:
                reply.delay_s = self.due(exchange.elapsed)
            return reply
        return _StreamReplay(self, exchange, req, ids).reply()


def _plain_reply(answer: str, pieces: Callable[[str], list[str]]) -> Reply:
    return Reply(
        answer=answer,
        items=[Piece(p) for p in pieces(answer)],
        closing=lambda _answer, _stopped: [],
        trailing=lambda _stopped: [],
        failing=list,
    )


def _recorded_error(exchange: Exchange) -> ApiError:
    body = exchange.body if isinstance(exchange.body, dict) else {}
    said = body.get("message")
    message = said if isinstance(said, str) else str(exchange.body or "")
    extra = {k: v for k, v in body.items() if k not in {"code", "message", "status"}}
    headers = {k: v for k, v in exchange.headers.items() if k.lower() == "retry-after"}
    return ApiError(exchange.status, message, body.get("code"), headers=headers, extra=extra)


@dataclass(frozen=True)
class RecordedIds:
    """What an exchange's answer names, found once per exchange: the head ids (task, message,
    conversation), the other ids of the answer, the end user's ids and names, its first time."""

    head: dict[str, str]  # recorded id -> task_id | message_id | conversation_id
    answer: list[str]  # the other ids the answer made (in order of appearance)
    end_users: set[str]
    users: set[str]
    created_at: int | None


def recorded_ids(exchange: Exchange) -> RecordedIds:
    first = exchange.events[0][1] if exchange.events else exchange.body
    first = first if isinstance(first, dict) else {}
    head = {
        first[n]: n for n in ("task_id", "message_id", "conversation_id") if isinstance(first.get(n), str)
    }
    if exchange.conversation:
        head.setdefault(exchange.conversation, "conversation_id")
    answer: dict[str, None] = {}
    end_users: set[str] = set()
    users: set[str] = set()

    def collect(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            created_by = node.get("created_by")
            if isinstance(created_by, dict):
                if isinstance(created_by.get("id"), str):
                    end_users.add(created_by["id"])
                if isinstance(created_by.get("user"), str):
                    users.add(created_by["user"])
            if isinstance(node.get("sys.user_id"), str):
                users.add(node["sys.user_id"])
            for k, v in node.items():
                collect(v, k)
        elif isinstance(node, list):
            for v in node:
                collect(v, key if key == "message_files" else "")
        elif (
            isinstance(node, str)
            and (key in ANSWER_ID_KEYS or key == "message_files")
            and UUID_TEXT.match(node)
        ):
            answer[node] = None

    for _, event in exchange.events:
        collect(event)
    if isinstance(exchange.body, dict):
        collect(exchange.body)
    created_at = first.get("created_at")
    return RecordedIds(
        head=head,
        answer=[i for i in answer if i not in head and i not in end_users],
        end_users=end_users,
        users=users,
        created_at=created_at if isinstance(created_at, int) and not isinstance(created_at, bool) else None,
    )


class _IdMap:
    """The recorded answer's ids and times, as this answer's."""

    def __init__(self, exchange: Exchange, req: ReplayRequest) -> None:
        found = exchange.ids()
        message_id = req.head["message_id"]
        self.ids = {old: req.head[name] for old, name in found.head.items()}
        for old in found.answer:
            self.ids[old] = str(uuid.uuid5(REPLAY_NAMESPACE, f"{message_id}/{old}"))
        # `created_by.id` is the end user's: checked before the answer's ids
        self.end_users = dict.fromkeys(found.end_users, req.end_user_id)
        self.users = dict.fromkeys(found.users, req.user)
        self.shift = req.created_at - found.created_at if found.created_at is not None else 0

    def remap(self, node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: self.remap(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self.remap(v, key) for v in node]
        if isinstance(node, str):
            if node in self.end_users:  # before the answer's ids: `created_by.id` is the end user's
                return self.end_users[node]
            if node in self.ids:
                return self.ids[node]
            if key in USER_KEYS and node in self.users:
                return self.users[node]
            return node
        if key in TIME_KEYS and isinstance(node, int) and not isinstance(node, bool) and node > 10**9:
            return node + self.shift
        return node


class _StreamReplay:
    """A recorded stream as a Reply: its events (ids remapped) paced as recorded."""

    def __init__(self, replay: Replay, exchange: Exchange, req: ReplayRequest, ids: _IdMap) -> None:
        self.replay = replay
        self.exchange = exchange
        self.req = req
        self.ids = ids
        self.roles = replay.vocabulary.roles

    def reply(self) -> Reply:
        events: list[tuple[float, dict[str, Any]]] = [
            (at, self.ids.remap(e)) for at, e in self.exchange.events
        ]
        files = self._files(events)
        terminal = next(
            (n for n, (_, e) in enumerate(events) if self.roles.get(e["event"]) == "terminal"), None
        )
        body, end = (events, []) if terminal is None else (events[:terminal], events[terminal:])
        answer, thoughts = self._answer(body)
        failed = bool(end) and end[0][1]["event"] == "error"
        if not self.req.streaming:
            if failed:
                self.replay.wait(end[0][0], self.req)
                error = end[0][1]
                raise ApiError(
                    int(error.get("status", 500)), str(error.get("message", "")), error.get("code")
                )
            metadata = next((e.get("metadata") for _, e in end if e["event"] == "message_end"), None)
            reply = _plain_reply(answer, self.req.pieces)
            reply.agent_thoughts, reply.files = thoughts, files
            reply.metadata = metadata if isinstance(metadata, dict) else None
            reply.delay_s = self.replay.due(end[0][0] if end else self.exchange.elapsed)
            return reply
        items: list[Piece | Event] = []
        for _, event in body:
            role = self.roles.get(event["event"])
            text = event.get("answer") if isinstance(event.get("answer"), str) else None
            if role == "piece" and text is not None:
                items.append(Event(event, text=text))
            elif role == "replace" and text is not None:
                items.append(Event(event, replace=text))
            else:
                items.append(Event(event))
        return Reply(
            answer=answer,
            items=items,
            closing=lambda _answer, _stopped: [],
            trailing=lambda _stopped: [],
            failing=list,
            agent_thoughts=thoughts,
            files=files,
            schedule=[self.replay.due(at) for at, _ in body],
            ending=self._ending(end),
            metadata=next((e.get("metadata") for _, e in end if e["event"] == "message_end"), None),
            fault={"disconnect_after": len(body)} if self.exchange.end == "disconnected" else {},
        )

    def _ending(self, end: list[tuple[float, dict[str, Any]]]) -> Callable[[str, bool], list[Any] | None]:
        def ending(_so_far: str, stopped: bool) -> list[Any] | None:
            if not end:
                return None  # the recording has no end (cut short): the mock's own message_end
            if stopped:  # a stopped answer ends at once: its message_end, then what must come last
                if end[0][1]["event"] != "message_end":
                    return None
                return [end[0][1], *(e for _, e in end[1:] if self.roles.get(e["event"]) == "final")]
            out: list[Any] = []
            for at, event in end:
                out += [Wait(self.replay.due(at)), event]
            return out

        return ending

    def _answer(self, body: list[tuple[float, dict[str, Any]]]) -> tuple[str, list[dict[str, Any]]]:
        """The answer the pieces make (after the last replace) and the agent's thoughts as history
        keeps them (each thought's last state)."""
        parts: list[str] = []
        thoughts: dict[str, dict[str, Any]] = {}
        for _, event in body:
            role = self.roles.get(event["event"])
            if role == "piece" and isinstance(event.get("answer"), str):
                parts.append(event["answer"])
            elif role == "replace" and isinstance(event.get("answer"), str):
                parts = [event["answer"]]
            elif event["event"] == "agent_thought" and isinstance(event.get("id"), str):
                thoughts[event["id"]] = {
                    "id": event["id"],
                    "chain_id": None,
                    "message_id": self.req.head["message_id"],
                    "position": event.get("position", len(thoughts) + 1),
                    "thought": event.get("thought", ""),
                    "tool": event.get("tool", ""),
                    "tool_labels": event.get("tool_labels") or {},
                    "tool_input": event.get("tool_input", ""),
                    "observation": event.get("observation", ""),
                    "files": list(event.get("message_files") or []),
                    "created_at": event.get("created_at", self.req.created_at),
                }
        return "".join(parts), list(thoughts.values())

    def _files(self, events: list[tuple[float, dict[str, Any]]]) -> list[AssistantFile]:
        """The answer's files with recorded bytes: stored as this answer's, their events pointing
        at the replaying mock's signed URL."""
        made = []
        recorded_ids = {v: k for k, v in self.ids.ids.items()}
        for _, event in events:
            if event["event"] != "message_file":
                continue
            recorded = self.exchange.files.get(recorded_ids.get(event.get("id", ""), ""))
            if recorded is None:
                continue
            afile = AssistantFile(
                id=str(event["id"]),
                filename=recorded.name,
                type=str(event.get("type", "image")),
                mime_type=recorded.mime_type,
                data=recorded.path.read_bytes(),
            )
            afile.url = self.req.url_of(afile)
            event["url"] = afile.url
            made.append(afile)
        return made
