"""The Chat App API calls the checks make, and the paging walks, each returning evidence.

Walks are bounded by a page count derived from what the run created, so a server whose cursor
never advances (or whose `has_more` never turns false) cannot trap the suite.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from conformance.causes import Blocked, Cause, parameter_cause
from conformance.checking import CheckFailed, expect, expect_json_body, expect_status, fail, needs
from conformance.contract import document, operation
from conformance.data import load_yaml
from conformance.grammar import PIECE, TERMINAL, grammar
from conformance.http import Client, Exchange, StreamResult
from conformance.run import Run

SEND = "sendChatMessage"
CURSOR_UNKNOWN = parameter_cause(SEND, "(prerequisite)", "failed")
FORM_KINDS = ("text-input", "paragraph", "select", "number")


# Used when fixtures/answers.yaml is absent: any server answers it at length.
LONG_ANSWER_QUERY = "Tell me the plot of Die Hard"


def long_answer_query() -> str:
    """The query whose canned answer (fixtures/answers.yaml) is the longest: a long stream."""
    answers = (load_yaml("answers.yaml") or {}).get("answers") or []
    entries = [a for a in answers if isinstance(a, dict) and a.get("query") and a.get("answer")]
    if not entries:
        return LONG_ANSWER_QUERY
    return str(max(entries, key=lambda a: len(str(a["answer"])))["query"])


def blocking_modes() -> set[str]:
    """The app modes that answer in blocking mode (`x-app-modes` of the blocking answer's schema)."""
    schema = document()["components"]["schemas"].get("ChatAppAnswer") or {}
    return {str(m) for m in schema.get("x-app-modes") or ()}


def known_modes() -> set[str]:
    return {str(m) for m in (document()["components"]["schemas"].get("ChatAppMode") or {}).get("enum", ())}


def random_id() -> str:
    return str(uuid.uuid4())


def valid_inputs(form: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Inputs that satisfy the app's declared `user_input_form` (required ones filled, within limits)."""
    inputs: dict[str, Any] = {}
    for item in form or []:
        kinds = [k for k in item if k in FORM_KINDS] if isinstance(item, dict) else []
        if not kinds:
            continue
        kind, control = kinds[0], item[kinds[0]]
        if not isinstance(control, dict) or not control.get("variable"):
            continue
        name = control["variable"]
        if kind == "select":
            options = control.get("options") or []
            if options:
                inputs[name] = options[0]
        elif kind == "number":
            inputs[name] = 1
        else:
            max_len = control.get("max_length") or 8
            inputs[name] = "conformance"[: max(1, min(int(max_len), 11))]
    return inputs


def reads_files(parameters: dict[str, Any]) -> bool:
    """Whether the app reads `files` of a chat message at all: real servers skip them unread when its
    /parameters does not enable file upload (SPEC_NOTES F4)."""
    config = parameters.get("file_upload")
    if not isinstance(config, dict):
        return False
    image = given if isinstance(given := config.get("image"), dict) else {}
    return bool(config.get("enabled") or image.get("enabled"))


def accepts_files(parameters: dict[str, Any]) -> bool:
    """Whether the app's /parameters enables file upload (today's form or the older image-only one)."""
    config = parameters.get("file_upload")
    if not isinstance(config, dict):
        return False
    image = given if isinstance(given := config.get("image"), dict) else {}
    methods = set(
        config.get("allowed_file_upload_methods") or image.get("transfer_methods") or ["local_file"]
    )
    types = set(config.get("allowed_file_types") or ["image"])
    return (
        bool(config.get("enabled") or image.get("enabled")) and "local_file" in methods and "image" in types
    )


@dataclass
class ChatApp:
    """The calls of the Chat App surface for one run."""

    client: Client
    run: Run
    form: list[dict[str, Any]] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)  # the app's GET /parameters answer
    answers: dict[str, str] = field(default_factory=dict)
    mode: str | None = None  # the app's mode (GET /info), when the era has it
    answers_blocking: bool = True  # False: the app's mode streams only (agent-chat), so messages stream
    _streamed: dict[int, tuple[Exchange, dict[str, Any]]] = field(default_factory=dict, repr=False)

    def switched_off(self, feature: str) -> bool:
        """Whether the app's /parameters turns `feature` off (`{feature: {enabled: false}}`).

        A feature the answer does not mention is taken as on: servers older than the switch had
        the feature and no switch for it."""
        setting = self.parameters.get(feature)
        return isinstance(setting, dict) and setting.get("enabled") is False

    @property
    def response_mode(self) -> str:
        """The response mode the suite sends messages in: blocking, unless the app streams only."""
        return "blocking" if self.answers_blocking else "streaming"

    def learn_mode(self) -> None:
        """Read the app's mode (GET /info) and whether it answers in blocking mode: the contract's
        blocking answer lists its app modes (`x-app-modes`); an agent-chat app streams only."""
        try:
            operation("getAppInfo")
        except KeyError:
            return  # the era has no /info: every app answers blocking (2023)
        ex = self.client.call("GET", "/info", mark_hang=False)
        body = ex.json()
        if ex.status != 200 or not isinstance(body, dict) or not isinstance(body.get("mode"), str):
            return
        self.mode = body["mode"]
        modes = blocking_modes()
        self.answers_blocking = not modes or self.mode in modes or self.mode not in known_modes()

    def body(self, ex: Exchange) -> Any:
        """The answer of a message sent with `send`: the JSON body, or for a streamed one the message
        its events spell (id, conversation_id, answer, created_at of its pieces)."""
        held = self._streamed.get(id(ex))
        if held is not None and held[0] is ex:
            return held[1]
        return ex.json()

    def send(
        self,
        user: str,
        query: str,
        conversation_id: str = "",
        inputs: dict[str, Any] | None = None,
        spend: bool = True,
        **extra: Any,
    ) -> Exchange:
        """A chat message in the app's response mode (counts against the budget when it may produce an
        answer); `app.body(ex)` is its answer either way."""
        if spend:
            self.run.spend(1, "a chat message")
        body: dict[str, Any] = {
            "inputs": valid_inputs(self.form) if inputs is None else inputs,
            "query": query,
            "response_mode": self.response_mode,
            "conversation_id": conversation_id,
            "user": user,
        }
        body.update(extra)
        if body["response_mode"] == "streaming":
            ex = self._send_streaming(body)
        else:
            ex = self.client.call("POST", "/chat-messages", json_body=body)
        data = self.body(ex)
        if ex.status == 200 and not spend:
            self.run.spent += 1  # a request that should have been refused still produced an answer
        if ex.status == 200 and isinstance(data, dict) and isinstance(data.get("conversation_id"), str):
            self.run.remember(user, data["conversation_id"])
            if isinstance(data.get("id"), str) and isinstance(data.get("answer"), str):
                self.answers[data["id"]] = data["answer"]
        return ex

    def send_ok(self, user: str, query: str, conversation_id: str = "") -> dict[str, Any]:
        """A blocking message that must succeed (used to prepare data for other checks).

        Only what the callers use is required (200, `id`, `conversation_id`): the answer's schema
        is judged once, by chat.blocking_shape; a failure here blocks the caller, it is not its own.
        """
        ex = self.send(user, query, conversation_id)
        try:
            expect_status(ex, 200, expected="200 with the answer")
        except CheckFailed as exc:
            raise Blocked(exc.cause or CURSOR_UNKNOWN, exc.message, exc.evidence) from exc
        return needs(ex, operation(SEND), self.body(ex), "id", "conversation_id")

    def _send_streaming(self, body: dict[str, Any]) -> Exchange:
        """Send a message of a streaming-only app; its answer is assembled from the stream's events.

        An error before the stream starts is the JSON envelope, returned as it came; a stream that did
        not end properly or carries no message id is returned without an answer (its callers block).
        """
        s = self.client.stream("POST", "/chat-messages", json_body=body)
        ex = s.exchange
        events = s.json_events()
        conversations = {e["conversation_id"] for e in events if isinstance(e.get("conversation_id"), str)}
        for conversation_id in conversations:  # cleaned up at the end even when the stream broke
            self.run.remember(str(body["user"]), conversation_id)
        if ex.content_type != "text/event-stream" or not s.complete:
            return ex
        g = grammar()
        pieces = [e for e in events if g.role(e.get("event")) == PIECE]
        ends = [e for e in events if g.role(e.get("event")) == TERMINAL]
        first = (pieces or ends or [{}])[0]
        if ends and ends[0].get("event") == "error":
            return ex
        answer = {
            "id": first.get("id") or first.get("message_id"),
            "conversation_id": first.get("conversation_id"),
            "answer": g.answer(events),
            "created_at": first.get("created_at"),
        }
        self._streamed[id(ex)] = (ex, answer)
        return ex

    def stream(self, user: str, query: str, conversation_id: str = "", **extra: Any) -> StreamResult:
        self.run.spend(1, "a streamed chat message")
        body: dict[str, Any] = {
            "inputs": valid_inputs(self.form),
            "query": query,
            "response_mode": "streaming",
            "conversation_id": conversation_id,
            "user": user,
        }
        body.update(extra)
        result = self.client.stream("POST", "/chat-messages", json_body=body)
        for event in result.json_events():
            if isinstance(event.get("conversation_id"), str):
                self.run.remember(user, event["conversation_id"])
                break
        return result

    def messages(self, user: str, conversation_id: str, **params: Any) -> Exchange:
        return self.client.call(
            "GET", "/messages", params={"conversation_id": conversation_id, "user": user, **params}
        )

    def conversations(self, user: str, **params: Any) -> Exchange:
        return self.client.call("GET", "/conversations", params={"user": user, **params})

    def rename(self, user: str, conversation_id: str, **body: Any) -> Exchange:
        return self.client.call(
            "POST", f"/conversations/{conversation_id}/name", json_body={"user": user, **body}
        )

    def delete(self, user: str, conversation_id: str) -> Exchange:
        return self.client.call("DELETE", f"/conversations/{conversation_id}", json_body={"user": user})

    def feedback(self, user: str, message_id: str, rating: Any, **body: Any) -> Exchange:
        return self.client.call(
            "POST", f"/messages/{message_id}/feedbacks", json_body={"rating": rating, "user": user, **body}
        )


@dataclass
class Walk:
    """The pages of one paging walk, in the order they were fetched."""

    pages: list[dict[str, Any]] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    stopped: str = ""

    def items(self) -> list[dict[str, Any]]:
        return [item for page in self.pages for item in page.get("data", [])]

    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None


def expect_page_sizes(walk: Walk, limit: int, noun: str) -> None:
    """Every page of a walk holds at most `limit` items, exactly `limit` while more exist, and echoes it."""
    for page, ex in zip(walk.pages, walk.exchanges, strict=True):
        size = len(page.get("data", []))
        expect(size <= limit, f"{size} {noun} on a page with limit={limit}", ex)
        if page.get("has_more"):
            expect(size == limit, f"only {size} {noun} on a page with limit={limit} and has_more", ex)
        expect(page.get("limit") == limit, f"limit echoed as {page.get('limit')!r}, wanted {limit}", ex)


def cursor_cause(operation_id: str, cursor: str) -> Cause:
    """The root cause every paging check shares when a cursor is not honoured."""
    return parameter_cause(
        operation_id, cursor, "is ignored: the page after the cursor is the first page again"
    )


def ignored_cursor(ex: Exchange, op: Any, cursor: str) -> Cause | None:
    """The cursor cause when an unknown cursor was answered with items (nothing follows an unknown id)."""
    body = ex.json()
    if ex.status == 200 and isinstance(body, dict) and body.get("data"):
        return cursor_cause(op.operation_id, cursor)
    return None


def _expect_cursor_honoured(walk: Walk, operation_id: str, cursor: str, value: str | None) -> None:
    """A page fetched with a cursor must not be the first page again (the cursor was ignored)."""
    if value is None or len(walk.pages) < 2:
        return
    first = [item.get("id") for item in walk.pages[0].get("data", [])]
    now = [item.get("id") for item in walk.pages[-1].get("data", [])]
    if first and now == first:
        fail(
            f"{cursor}={value} answered the first page again ({len(now)} item(s)): the cursor is ignored",
            walk.exchanges[0],
            walk.exchanges[-1],
            expected=f"{operation_id}: `{cursor}` continues the listing after the item it names",
            cause=cursor_cause(operation_id, cursor),
        )


def walk_history(app: ChatApp, user: str, conversation_id: str, limit: int, max_pages: int) -> Walk:
    """Follow `first_id = data[0].id` from the newest page back, at most `max_pages` pages."""
    walk = Walk()
    op = operation("listMessages")
    first_id = None
    for _ in range(max_pages):
        ex = app.messages(user, conversation_id, limit=limit, first_id=first_id)
        walk.exchanges.append(ex)
        expect_status(ex, 200)
        page = expect_json_body(ex, op)
        walk.pages.append(page)
        data = page["data"]
        _expect_cursor_honoured(walk, op.operation_id, "first_id", first_id)
        if not page["has_more"]:
            return walk
        if not data:
            fail("has_more is true on an empty page: there is no first_id to continue from", ex)
        first_id = data[0]["id"]
    walk.stopped = f"still has_more after {max_pages} pages"
    return walk


def walk_conversations(app: ChatApp, user: str, limit: int, max_pages: int) -> Walk:
    """Follow `last_id = data[-1].id`, at most `max_pages` pages."""
    walk = Walk()
    op = operation("listConversations")
    last_id = None
    for _ in range(max_pages):
        ex = app.conversations(user, limit=limit, last_id=last_id)
        walk.exchanges.append(ex)
        expect_status(ex, 200)
        page = expect_json_body(ex, op)
        walk.pages.append(page)
        data = page["data"]
        _expect_cursor_honoured(walk, op.operation_id, "last_id", last_id)
        if not page["has_more"]:
            return walk
        if not data:
            fail("has_more is true on an empty page: there is no last_id to continue from", ex)
        last_id = data[-1]["id"]
    walk.stopped = f"still has_more after {max_pages} pages"
    return walk
