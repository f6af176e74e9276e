"""An app's canned answer as the events of its stream, its blocking body and its history record.

The data comes from the app (fixtures/apps/<name>.yaml: `reply`, `replies`), the vocabulary from
the contract: which event carries the answer's pieces in a mode is the `ChatStreamEvent` schema
whose `x-stream-role` is `piece` and whose `x-app-modes` name the mode; which modes answer in
blocking mode is `ChatAppAnswer`'s `x-app-modes`. The order of a stream follows the stream roles:
progress events and pieces, the closing events (`workflow_finished` just before `message_end`), the
terminal event, then the trailing audio and `tts_message_end`.

Ids the answer makes (thoughts, files, node runs, the workflow run) are derived from the message
id (uuid5), so one answer always has the same structure and a golden stream can map them.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from mock_server.apps import App
from mock_server.speech import Mp3Voice

TTS_LAG = 2  # pieces between the text and the audio chunk that speaks it
TTS_CLIPS_PER_CHUNK = 2  # word clips per `tts_message`
ID_NAMESPACE = uuid.UUID("6f1c3c52-7a0e-4e8b-9a55-1f0f3b1d2c77")


class StreamVocabulary:
    """What the contract says about events and modes (x-stream-role, x-app-modes)."""

    def __init__(self, contract_doc: dict[str, Any]) -> None:
        schemas = contract_doc.get("components", {}).get("schemas", {})
        mapping = schemas.get("ChatStreamEvent", {}).get("discriminator", {}).get("mapping", {})
        self.roles: dict[str, str] = {}
        self.modes: dict[str, list[str]] = {}
        self.known: set[str] = {"message_end", "error"}  # the event types the served era has
        # what an event carries when the server has no value for a field it always sends (`default`)
        self.defaults: dict[str, dict[str, Any]] = {}
        for event, ref in mapping.items():
            name = ref.rsplit("/", 1)[-1]
            if name in schemas:
                self.known.add(event)
            schema = schemas.get(name, {})
            self.roles[event] = schema.get("x-stream-role", "")
            self.modes[event] = list(schema.get("x-app-modes") or [])
            self.defaults[event] = _declared_defaults(schema)
        self.blocking_modes = list(schemas.get("ChatAppAnswer", {}).get("x-app-modes") or [])
        # which files `message_end` lists in a mode (x-listed-files): the message's, or the answer's
        self.listed_files: dict[str, str] = {}
        end = schemas.get(mapping.get("message_end", "").rsplit("/", 1)[-1], {})
        # whether the era's `message_end` has `files` at all (the 2023 documents' has not)
        self.end_has_files = False
        for part in [end, *(end.get("allOf") or [])]:
            self.end_has_files |= "files" in (part.get("properties") or {})
            listed = ((part.get("properties") or {}).get("files") or {}).get("x-listed-files") or {}
            for what, modes in listed.items():
                self.listed_files.update({m: str(what) for m in modes})

    def piece_event(self, mode: str) -> str:
        """The event type of the answer's pieces in `mode` (`message`, `agent_message`)."""
        for event, role in self.roles.items():
            if role == "piece" and mode in self.modes[event] and event in self.known:
                return event
        return "message"

    def carries(self, event: str, mode: str) -> bool:
        """Whether a `mode` app's stream may carry `event` in the served era (x-app-modes, x-eras)."""
        if event not in self.known:
            return False
        return event in {"message_end", "error"} or mode in self.modes.get(event, [])

    def problem(self, app: App) -> str | None:
        """Why `app`'s replies cannot be streamed in its mode, or None."""
        needs = {"thoughts": "agent_thought", "workflow": "workflow_started", "files": "message_file"}
        for spec in [app.reply, *app.replies.values()]:
            for key, event in needs.items():
                if spec.get(key) and event in self.known and app.mode not in self.modes[event]:
                    return f"fixtures/apps/{app.name}.yaml: `{key}` needs a mode whose streams carry {event}"
        return None

    def answers_blocking(self, mode: str) -> bool:
        return not self.blocking_modes or mode in self.blocking_modes


def _declared_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The `default` of each property an event schema declares inline (its own and its `allOf`
    parts'): a field real servers send as that value when they have none (Dify serializes its
    stream models whole, so an unset optional field is sent as null)."""
    out: dict[str, Any] = {}
    for part in [schema, *(schema.get("allOf") or [])]:
        for name, prop in (part.get("properties") or {}).items():
            if isinstance(prop, dict) and "default" in prop:
                out[name] = prop["default"]
    return out


class Piece(NamedTuple):
    """A piece of the answer (a named tuple: a stream makes one per token, ~3x cheaper than a
    frozen dataclass)."""

    text: str


@dataclass(frozen=True)
class Event:
    """A whole event between the pieces; `replace` (message_replace) sets the answer so far; `text`:
    the event is itself a piece of the answer, sent as it is (a recorded piece)."""

    payload: dict[str, Any]
    replace: str | None = None
    text: str | None = None


@dataclass
class AssistantFile:
    """A file the answer produced: stored as an upload of the app, shown in history."""

    id: str
    filename: str
    type: str
    mime_type: str
    data: bytes
    url: str = ""


@dataclass(frozen=True)
class RunContext:
    """What a chatflow's run knows of its request: the form's inputs and the `sys.*` variables a
    real run reports in `workflow_started` and in its start node (chatflow/005-chat_streaming_new.json
    of the real Dify captures)."""

    user: str
    end_user_id: str
    app_id: str
    inputs: dict[str, Any]
    dialogue_count: int  # the message's place in its conversation, from 1


@dataclass
class Reply:
    """Everything an answer is: what streams, what closes it, and what history keeps."""

    answer: str  # the final answer (after moderation)
    items: list[Piece | Event]
    closing: Callable[[str, bool], list[dict[str, Any]]]  # (answer so far, stopped) -> before the terminal
    trailing: Callable[[bool], list[dict[str, Any]]]  # (stopped) -> after the terminal
    failing: Callable[[], list[dict[str, Any]]]  # -> before an error event
    agent_thoughts: list[dict[str, Any]] = field(default_factory=list)
    files: list[AssistantFile] = field(default_factory=list)
    piece_fields: dict[str, Any] = field(default_factory=dict)  # what every piece event carries besides
    # A reply that replays a recording (mock_server/recording/replay.py) brings its own timing and end:
    schedule: list[float] | None = None  # when each item is due (s from the request); None: the pacing's
    # (answer so far, stopped) -> the terminal and trailing events (dicts, and streaming.Wait marks
    # for their timing); None: the mock's own message_end
    ending: Callable[[str, bool], list[Any] | None] | None = None
    metadata: dict[str, Any] | None = None  # the blocking answer's and message_end's metadata, as recorded
    delay_s: float = 0.0  # how long a blocking answer takes to come
    fault: dict[str, Any] = field(default_factory=dict)  # what a recorded stream suffered (a cut connection)

    def outcome_for(self, answer_so_far: str) -> dict[str, Any]:
        """What history keeps of an answer cut short (stopped, or a fault): the agent's last thought,
        the one that holds the answer, holds what was sent of it."""
        if not self.agent_thoughts:
            return {}
        *tools, last = self.agent_thoughts
        return {"agent_thoughts": [*tools, {**last, "thought": answer_so_far}]}


def _json_text(value: Any, query: str) -> str:
    """A tool's input or observation as JSON text; `{query}` in strings is the user's query."""

    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.replace("{query}", query)
        if isinstance(v, list):
            return [fill(x) for x in v]
        if isinstance(v, dict):
            return {k: fill(x) for k, x in v.items()}
        return v

    value = fill(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class Composer:
    """Builds the Reply of one answer of one app."""

    def __init__(
        self,
        app: App,
        vocabulary: StreamVocabulary,
        files_dir: Path,
        voice: Mp3Voice | None,
        head: dict[str, Any],
        created_at: int,
        pieces: Callable[[str], list[str]],
        step_s: float,
        context: Callable[[], RunContext] | None = None,
    ) -> None:
        self.app = app
        self.vocabulary = vocabulary
        self.files_dir = files_dir
        self.voice = voice
        self.head = head  # task_id, message_id, conversation_id
        self.created_at = created_at
        self.pieces = pieces
        self.step_s = step_s  # seconds between two events at the request's pacing (elapsed times)
        self.message_id = head["message_id"]
        self.context = context  # asked for only by a chatflow's run (it may read the store)

    def new_id(self, label: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"{self.message_id}/{label}"))

    def event(self, name: str, **fields: Any) -> dict[str, Any]:
        return {"event": name, **self.head, **fields, "created_at": self.created_at}

    # ---------------------------------------------------------------- the whole reply

    def compose(self, query: str, answer: str, url_of: Callable[[AssistantFile], str]) -> Reply:
        spec = self.app.reply_for(query)
        answer = str(spec.get("answer", answer))
        items: list[Piece | Event] = []
        thoughts: list[dict[str, Any]] = []
        files: list[AssistantFile] = []
        text: list[Piece | Event] = [Piece(p) for p in self.pieces(answer)]
        final = answer
        moderation = spec.get("moderation")
        if moderation:
            after = max(0, min(int(moderation.get("after", 0)), len(text)))
            final = str(moderation["answer"])
            replace = self.event("message_replace", answer=final, reason=str(moderation.get("reason", "")))
            text = [*text[:after], Event(replace, replace=final)]
        for n, entry in enumerate(spec.get("thoughts") or []):
            items.extend(self._thought(n + 1, entry, query, files, thoughts, url_of))
        for n, entry in enumerate(spec.get("files") or []):
            made = self._file(f"file-{n}", entry, url_of)
            files.append(made)
            items.append(Event(self._file_event(made)))
        closing: Callable[[str, bool], list[dict[str, Any]]] = _nothing_closes
        failing: Callable[[], list[dict[str, Any]]] = list
        piece_fields: dict[str, Any] = {}
        if spec.get("thoughts"):  # the agent's last round: its answer, as one more thought
            final_thought = self._thought_record(len(thoughts) + 1, "", "", "", "", [])
            items.append(Event(self.event("agent_thought", **_thought_event(final_thought))))
            items.extend(text)
            final_thought = {**final_thought, "thought": final}
            items.append(Event(self.event("agent_thought", **_thought_event(final_thought))))
            thoughts.append(final_thought)
        elif spec.get("workflow"):
            run = WorkflowRun(self, spec["workflow"], query)
            items.extend(run.items(text, final))
            closing, failing = run.closing, run.failing
            piece_fields = {"from_variable_selector": run.answer_selector}
        else:
            items.extend(text)
        reply = Reply(
            answer=final,
            items=items,
            agent_thoughts=thoughts,
            files=files,
            closing=closing,
            trailing=lambda stopped: [],
            failing=failing,
            piece_fields=piece_fields,
        )
        return self._with_tts(reply, final)

    # ---------------------------------------------------------------- agent thoughts and files

    def _thought_record(
        self, position: int, thought: str, tool: str, tool_input: str, observation: str, files: list[str]
    ) -> dict[str, Any]:
        """A thought as history keeps it (AgentThought)."""
        return {
            "id": self.new_id(f"thought-{position}"),
            "chain_id": None,
            "message_id": self.message_id,
            "position": position,
            "thought": thought,
            "tool": tool,
            "tool_labels": {
                name: {"en_US": name.replace("_", " ").title()} for name in tool.split(";") if name
            },
            "tool_input": tool_input,
            "observation": observation,
            "files": files,
            "created_at": self.created_at,
        }

    def _thought(
        self,
        position: int,
        entry: dict[str, Any],
        query: str,
        files: list[AssistantFile],
        thoughts: list[dict[str, Any]],
        url_of: Callable[[AssistantFile], str],
    ) -> list[Event]:
        """One tool call: the thought with its tool input, the files the tool made, then the thought
        again with the tool's observation (real servers send a thought again as it completes)."""
        record = self._thought_record(
            position,
            str(entry.get("thought", "")),
            str(entry.get("tool", "")),
            _json_text(entry.get("tool_input", {}), query),
            "",
            [],
        )
        out = [Event(self.event("agent_thought", **_thought_event(record)))]
        for n, spec in enumerate(entry.get("files") or []):
            made = self._file(f"thought-{position}-file-{n}", spec, url_of)
            files.append(made)
            record["files"].append(made.id)
            out.append(Event(self._file_event(made)))
        record["observation"] = _json_text(entry.get("observation", ""), query)
        out.append(Event(self.event("agent_thought", **_thought_event(record))))
        thoughts.append(record)
        return out

    def _file(
        self, label: str, spec: dict[str, Any], url_of: Callable[[AssistantFile], str]
    ) -> AssistantFile:
        name = str(spec["file"])
        made = AssistantFile(
            id=self.new_id(label),
            filename=name,
            type=str(spec.get("type", "image")),
            mime_type=str(spec.get("mime_type", "application/octet-stream")),
            data=(self.files_dir / name).read_bytes(),
        )
        made.url = url_of(made)
        return made

    def _file_event(self, made: AssistantFile) -> dict[str, Any]:
        return self.event("message_file", id=made.id, type=made.type, belongs_to="assistant", url=made.url)

    # ---------------------------------------------------------------- text to speech

    def _with_tts(self, reply: Reply, spoken: str) -> Reply:
        """With auto-play on: the spoken answer's MP3 chunks, each TTS_LAG pieces after its text, the
        rest after the terminal event, and `tts_message_end` last."""
        if not (self.app.tts_autoplay and self.voice):
            return reply
        clips = self.voice.clips(spoken)
        chunks = [
            b"".join(clips[i : i + TTS_CLIPS_PER_CHUNK]) for i in range(0, len(clips), TTS_CLIPS_PER_CHUNK)
        ]
        audio = [self.event("tts_message", audio=base64.b64encode(c).decode("ascii")) for c in chunks]
        items: list[Piece | Event] = []
        pieces = 0
        for item in reply.items:
            items.append(item)
            if isinstance(item, Piece):
                pieces += 1
                if pieces >= TTS_LAG and (pieces - TTS_LAG) % TTS_LAG == 0 and audio:
                    items.append(Event(audio.pop(0)))
        rest = audio
        trailing = reply.trailing

        def trailer(stopped: bool) -> list[dict[str, Any]]:
            return [*trailing(stopped), *([] if stopped else rest), self.event("tts_message_end", audio="")]

        reply.items, reply.trailing = items, trailer
        return reply


def _nothing_closes(_answer: str, _stopped: bool) -> list[dict[str, Any]]:
    return []


def _thought_event(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of an `agent_thought` event for a thought record (history's `files` are its
    `message_files`)."""
    return {
        "id": record["id"],
        "position": record["position"],
        "thought": record["thought"],
        "observation": record["observation"],
        "tool": record["tool"],
        "tool_labels": record["tool_labels"],
        "tool_input": record["tool_input"],
        "message_files": list(record["files"]),
    }


class WorkflowRun:
    """A chatflow's run: the node events of the app's `workflow`, the answer streamed by its
    `answer: true` node, an iteration's rounds, and `workflow_finished`.

    The fields are those of Dify 1.12.1 (chatflow/005-chat_streaming_new.json of the real Dify
    captures): node events carry `inputs_truncated`, `loop_id` and, when they start,
    `agent_strategy`; finished nodes `process_data_truncated` and `outputs_truncated`; the start
    node's inputs and outputs are the form's variables and the run's `sys.*` variables."""

    def __init__(self, composer: Composer, spec: dict[str, Any], query: str) -> None:
        self.c = composer
        self.spec = spec
        self.query = query
        self.run_id = composer.new_id("workflow-run")
        self.steps = 0
        self.index = 0
        answering = next((n for n in spec.get("nodes") or [] if n.get("answer")), None)
        # the variable whose text the answer's pieces are (`from_variable_selector` of `message`)
        self.answer_selector = [str(answering["id"]), "text"] if answering else ["answer", "answer"]
        self.context = composer.context() if composer.context else None

    def _event(self, name: str, data: dict[str, Any]) -> dict[str, Any]:
        return self.c.event(name, workflow_run_id=self.run_id, data=data)

    def system_variables(self, with_conversation: bool) -> dict[str, Any]:
        """The form's inputs and the `sys.*` variables, in a real run's order; `workflow_started`
        reports them without `sys.conversation_id`, the start node with it."""
        ctx = self.context
        if ctx is None:
            return {}
        out = {
            **ctx.inputs,
            "sys.files": [],
            "sys.user_id": ctx.user,
            "sys.app_id": ctx.app_id,
            "sys.workflow_id": str(self.spec["id"]),
            "sys.workflow_run_id": self.run_id,
            "sys.query": self.query,
        }
        if with_conversation:
            out["sys.conversation_id"] = self.c.head["conversation_id"]
        out["sys.dialogue_count"] = ctx.dialogue_count
        return out

    def _node(
        self,
        node: dict[str, Any],
        predecessor: str | None,
        item: Any = None,
        within: str | None = None,
        round_: int | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """node_started and node_finished data of one node run."""
        self.index += 1
        self.steps += 1
        label = f"node-{node['id']}" + (f"-{round_}" if round_ is not None else "")
        kind = str(node.get("type", "code"))
        common = {
            "id": self.c.new_id(label),
            "node_id": str(node["id"]),
            "node_type": kind,
            "title": str(node.get("title", node["id"])),
            "index": self.index,
            "predecessor_node_id": predecessor,
        }
        started = {
            **common,
            "inputs": {"item": item} if item is not None else None,
            "inputs_truncated": False,
            "created_at": self.c.created_at,
            "extras": {},
            "iteration_id": within,
            "loop_id": None,
            "agent_strategy": None,
        }
        inputs: dict[str, Any] | None = {"item": item} if item is not None else {}
        outputs = node.get("outputs")
        if item is not None and outputs is not None:
            outputs = json.loads(json.dumps(outputs).replace("{item}", str(item)))
        if kind == "start":
            inputs = outputs = self.system_variables(with_conversation=True)
        finished = {
            **common,
            "inputs": inputs,
            "inputs_truncated": False,
            "process_data": {},
            "process_data_truncated": False,
            "outputs": outputs,
            "outputs_truncated": False,
            "status": "succeeded",
            "error": None,
            "elapsed_time": round(self.c.step_s, 3),
            "execution_metadata": None,
            "created_at": self.c.created_at,
            "finished_at": self.c.created_at,
            "files": [],
            "iteration_id": within,
            "loop_id": None,
        }
        return started, finished

    def items(self, text: list[Piece | Event], answer: str) -> list[Piece | Event]:
        run = self.spec
        out: list[Piece | Event] = [
            Event(
                self._event(
                    "workflow_started",
                    {
                        "id": self.run_id,
                        "workflow_id": str(run["id"]),
                        "inputs": self.system_variables(with_conversation=False),
                        "created_at": self.c.created_at,
                    },
                )
            )
        ]
        predecessor = None
        for node in run.get("nodes") or []:
            if node.get("type") == "iteration":
                out.extend(self._iteration(node, predecessor))
            else:
                started, finished = self._node(node, predecessor)
                out.append(Event(self._event("node_started", started)))
                if node.get("answer"):
                    out.extend(text)
                    finished["outputs"] = {"text": "".join(p.text for p in text if isinstance(p, Piece))}
                elif node.get("type") == "answer":
                    finished["outputs"] = {"answer": answer, "files": []}
                out.append(Event(self._event("node_finished", finished)))
            predecessor = str(node["id"])
        return out

    def _iteration(self, node: dict[str, Any], predecessor: str | None) -> list[Event]:
        items = list(node.get("items") or [])
        self.index += 1
        self.steps += 1
        base: dict[str, Any] = {
            "id": self.c.new_id(f"iteration-{node['id']}"),
            "node_id": str(node["id"]),
            "node_type": "iteration",
            "title": str(node.get("title", node["id"])),
            "created_at": self.c.created_at,
            "extras": {},
        }
        out = [
            Event(
                self._event(
                    "iteration_started",
                    {
                        **base,
                        "metadata": {"iterator_length": len(items)},
                        "inputs": {"iterator": items},
                        "inputs_truncated": False,
                    },
                )
            )
        ]
        outputs = []
        for n, item in enumerate(items):
            out.append(Event(self._event("iteration_next", {**base, "index": n})))
            inner_predecessor = None
            last: dict[str, Any] = {}
            for inner in node.get("nodes") or []:
                started, last = self._node(inner, inner_predecessor, item, base["node_id"], n)
                out.append(Event(self._event("node_started", started)))
                out.append(Event(self._event("node_finished", last)))
                inner_predecessor = str(inner["id"])
            outputs.append((last.get("outputs") or {}).get("output"))
        out.append(
            Event(
                self._event(
                    "iteration_completed",
                    {
                        **base,
                        "outputs": {"output": outputs},
                        "outputs_truncated": False,
                        "inputs": {"iterator": items},
                        "inputs_truncated": False,
                        "status": "succeeded",
                        "error": None,
                        "elapsed_time": round(self.c.step_s * (1 + len(items)), 3),
                        "total_tokens": 0,
                        "execution_metadata": {},
                        "finished_at": self.c.created_at,
                        "steps": len(items),
                    },
                )
            )
        )
        return out

    def closing(self, answer: str, stopped: bool) -> list[dict[str, Any]]:
        """Before `message_end`: the run's end (stopped when the client stopped the answer)."""
        return [self.finished(answer, "stopped" if stopped else "succeeded")]

    def failing(self) -> list[dict[str, Any]]:
        """Before an `error` event: the run failed."""
        return [self.finished("", "failed")]

    def finished(self, answer: str, status: str) -> dict[str, Any]:
        ctx = self.context
        return self._event(
            "workflow_finished",
            {
                "id": self.run_id,
                "workflow_id": str(self.spec["id"]),
                "status": status,
                "outputs": {"answer": answer, "files": []} if status != "failed" else None,
                "error": "The server encountered an internal error." if status == "failed" else None,
                "elapsed_time": round(self.c.step_s * self.steps, 3),
                "total_tokens": 0,
                "total_steps": self.steps,
                "created_by": {"id": ctx.end_user_id, "user": ctx.user} if ctx else {},
                "created_at": self.c.created_at,
                "finished_at": self.c.created_at,
                "exceptions_count": 0,
                "files": [],
            },
        )
