"""The Locust user: one fresh end user of a chat app, judged on every answer.

It opens the app (GET /parameters), starts and continues conversations (blocking and streaming,
the stream read incrementally by the suite's client and SSE parser), pages its history and its
conversations while writing between pages, rates answers, renames and deletes conversations.
Each answer is timed into Locust's statistics (one entry per operation) and judged by
conformance.load.judge; what the user created and saw goes into the process's observations.
"""

from __future__ import annotations

import random
import time
from typing import Any

from locust import User, task
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from conformance.chatapp import ChatApp
from conformance.data import load_yaml
from conformance.http import Client, Exchange, StreamResult
from conformance.load import judge
from conformance.load.context import LoadContext, context_of
from conformance.run import Run

PAGINATION = "load.pagination_consistent"
FALLBACK_QUERIES = ("Which movie is the best?", "Can you explain why?", "Tell me more.")
PAGE_LIMIT = 2


class Violation(Exception):
    """A contract violation, as Locust's statistics see it (the finding itself is an observation)."""


def queries() -> list[str]:
    """The canned queries of fixtures/answers.yaml: any server answers them, the mock with canned answers."""
    answers = (load_yaml("answers.yaml") or {}).get("answers") or []
    found = [str(a["query"]) for a in answers if isinstance(a, dict) and a.get("query")]
    return found or list(FALLBACK_QUERIES)


class ChatAppUser(User):
    """A chat app user; the task weights mirror a chat UI: mostly talking, some browsing."""

    def wait_time(self) -> float:
        """Think time between tasks: uniform in the run's --think-time range."""
        low, high = self.ctx.settings.think_time
        return random.uniform(low, high)

    def on_start(self) -> None:
        self.ctx: LoadContext = context_of(self.environment)
        s = self.ctx.settings
        self.client = Client(s.base_url, s.api_key, s.timeout, s.stream_timeout)
        # A kept-alive connection the server closes as it is reused fails without an answer: sent once
        # more on a new connection (RFC 9112 9.3.1), before any response began (never mid-stream).
        retry = Retry(
            total=1, connect=1, read=1, status=0, other=0, allowed_methods=None, raise_on_status=False
        )
        for adapter in self.client.session.adapters.values():  # the suite's bounded adapters, kept
            if isinstance(adapter, HTTPAdapter):
                adapter.max_retries = retry
        self.app = ChatApp(self.client, Run(prefix=s.user_prefix, run_id=s.run_id))
        self.user = self.app.run.user(self.ctx.user_label())
        self.ctx.observations.add("user", user=self.user)
        self.conversations: list[str] = []
        self.acked: dict[str, list[str]] = {}
        self.seq = 0
        self.queries = queries()
        self.open_app()

    # ------------------------------------------------------------------ recording

    def record(
        self,
        name: str,
        method: str,
        ex: Exchange,
        problem: judge.Finding | None,
        latency_ms: float | None = None,
    ) -> None:
        """Time the answer (the report's figures, and Locust's statistics) and keep the finding, if any.

        `latency_ms` is what the user waited for when it is not the whole exchange (a stream's first
        token); Locust's own statistics get the whole exchange, as Locust times requests.
        """
        exception: Exception | None = None
        if problem is not None:
            exception = Violation(f"{problem['check']}: status {ex.status}")
            self.ctx.observations.add("finding", user=self.user, **problem)
        elif ex.status is None:
            exception = ConnectionError("no answer")
        elif ex.status >= 400:
            exception = Violation(f"refused under load: {ex.status}")
        total_ms = ex.elapsed * 1000
        self.ctx.observations.add(
            "request",
            name=name,
            ms=round(total_ms if latency_ms is None else latency_ms, 2),
            at=round(time.time(), 3),
            failed=exception is not None,
        )
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=total_ms,
            response_length=len(ex.text),
            exception=exception,
            context={"user": self.user},
        )

    def remember(self, conversation_id: Any) -> None:
        if isinstance(conversation_id, str) and conversation_id and conversation_id not in self.acked:
            self.acked[conversation_id] = []
            self.conversations.append(conversation_id)
            self.ctx.observations.add("conversation", user=self.user, conversation_id=conversation_id)

    def ack(self, conversation_id: str, message_id: Any, evidence: str) -> None:
        if not isinstance(message_id, str):
            return
        self.remember(conversation_id)
        self.seq += 1
        self.acked[conversation_id].append(message_id)
        self.ctx.observations.add(
            "ack",
            user=self.user,
            conversation_id=conversation_id,
            message_id=message_id,
            seq=self.seq,
            evidence=evidence,
        )

    def seen(self, what: str, ids: list[Any], ex: Exchange) -> None:
        ids = [i for i in ids if isinstance(i, str)]
        if ids:
            self.ctx.observations.add("seen", user=self.user, what=what, ids=ids, evidence=ex.evidence())

    # ------------------------------------------------------------------ the calls

    def open_app(self) -> None:
        ex = self.client.call("GET", "/parameters", params={"user": self.user})
        self.record("getParameters", "GET", ex, judge.judge_exchange("getParameters", ex))
        body = ex.json()
        if ex.status == 200 and isinstance(body, dict) and isinstance(body.get("user_input_form"), list):
            self.app.form = body["user_input_form"]

    def say(self, conversation_id: str = "", streaming: bool | None = None) -> bool:
        """One answer-producing message (False when the budget is spent)."""
        if not self.ctx.budget.take():
            return False
        if streaming is None:
            streaming = random.random() < 0.6
        query = random.choice(self.queries)
        if streaming:
            self.say_streaming(query, conversation_id)
        else:
            self.say_blocking(query, conversation_id)
        return True

    def say_blocking(self, query: str, conversation_id: str) -> None:
        ex = self.app.send(self.user, query, conversation_id, spend=False)
        problem = judge.judge_exchange("sendChatMessage", ex)
        self.record("sendChatMessage (blocking)", "POST", ex, problem)
        body = ex.json()
        if problem is None and ex.status == 200 and isinstance(body, dict):
            self.ack(str(body.get("conversation_id")), body.get("id"), ex.evidence())

    def say_streaming(self, query: str, conversation_id: str) -> None:
        s: StreamResult = self.app.stream(self.user, query, conversation_id)
        problem = judge.judge_stream(s)
        streamed = s.exchange.content_type == "text/event-stream"
        ttft, intervals = judge.stream_timings(s) if streamed else (None, [])
        self.record("sendChatMessage (streaming)", "POST", s.exchange, problem, latency_ms=ttft)
        events = judge.payloads(s)
        for event in events:  # learn the conversation as soon as the stream names it, even if it breaks
            if event.get("conversation_id"):
                self.remember(event["conversation_id"])
                break
        if streamed:
            self.ctx.observations.add(
                "stream",
                ttft_ms=ttft,
                intervals_ms=intervals,
                total_ms=round(s.exchange.elapsed * 1000, 2),
                complete=problem is None,
                reason=s.end_reason,
            )
        end = next((e for e in events if e.get("event") == "message_end"), None)
        if problem is None and end is not None:
            self.ack(str(end.get("conversation_id")), end.get("id") or end.get("message_id"), s.evidence())

    # ------------------------------------------------------------------ tasks

    @task(2)
    def start_conversation(self) -> None:
        if not self.say():
            self.browse_conversations()

    @task(3)
    def continue_conversation(self) -> None:
        if not self.conversations:
            self.start_conversation()
            return
        if not self.say(random.choice(self.conversations)):
            self.browse_history()

    @task(2)
    def browse_history(self) -> None:
        """Walk a conversation's history back (first_id), sending a message into it between pages."""
        live = [c for c in self.conversations if self.acked.get(c)]
        if not live:
            return
        conversation_id = random.choice(live)
        max_pages = len(self.acked[conversation_id]) // PAGE_LIMIT + 4
        ids: list[str] = []
        first_id = None
        for page_number in range(max_pages):
            ex = self.app.messages(self.user, conversation_id, limit=PAGE_LIMIT, first_id=first_id)
            problem = judge.judge_exchange("listMessages", ex)
            self.record("listMessages", "GET", ex, problem)
            if problem is not None or ex.status != 200:
                return
            page = ex.json()
            data = [m for m in page["data"] if isinstance(m, dict)]
            page_ids: list[Any] = [m.get("id") for m in data]
            self.seen("messages", page_ids, ex)
            if self.duplicates("history", ids, page_ids, ex, conversation_id):
                return
            ids += page_ids
            if not page["has_more"] or not data:
                break
            first_id = data[0]["id"]
            if page_number == 0 and random.random() < 0.5:
                self.say(conversation_id, streaming=False)  # a write while the walk is under way
        self.ctx.observations.add("walk", user=self.user, what="history", pages=page_number + 1)

    @task(2)
    def browse_conversations(self) -> None:
        """Walk the conversation list (last_id), continuing one listed conversation between pages."""
        max_pages = len(self.conversations) // PAGE_LIMIT + 4
        ids: list[str] = []
        last_id = None
        for page_number in range(max_pages):
            ex = self.app.conversations(self.user, limit=PAGE_LIMIT, last_id=last_id)
            problem = judge.judge_exchange("listConversations", ex)
            self.record("listConversations", "GET", ex, problem)
            if problem is not None or ex.status != 200:
                return
            page = ex.json()
            data = [c for c in page["data"] if isinstance(c, dict)]
            page_ids: list[Any] = [c.get("id") for c in data]
            self.seen("conversations", page_ids, ex)
            if self.duplicates("conversations", ids, page_ids, ex, ""):
                return
            ids += page_ids
            if not page["has_more"] or not data:
                break
            last_id = data[-1]["id"]
            if page_number == 0 and random.random() < 0.5 and page_ids[0] in self.acked:
                self.say(page_ids[0], streaming=False)  # moves it to the top while the walk goes on
        self.ctx.observations.add("walk", user=self.user, what="conversations", pages=page_number + 1)

    def duplicates(
        self, what: str, before: list[str], page: list[Any], ex: Exchange, conversation_id: str
    ) -> bool:
        repeated = sorted({i for i in page if i in before or page.count(i) > 1}, key=str)
        if not repeated:
            return False
        where = f" of conversation {conversation_id}" if conversation_id else ""
        problem = judge.finding(
            PAGINATION,
            "listMessages" if what == "history" else "listConversations",
            f"a {what} walk{where} with limit={PAGE_LIMIT}, written to between pages, returned "
            f"{', '.join(map(str, repeated[:3]))} again on page {len(before) // PAGE_LIMIT + 1}",
            [f"ids of the earlier pages: {before}", ex.evidence()],
            "cursor pagination (first_id / last_id) returns every item at most once, even while the "
            "list is written",
        )
        self.ctx.observations.add("finding", user=self.user, **problem)
        self.ctx.observations.add("walk", user=self.user, what=what, pages=len(before) // PAGE_LIMIT + 1)
        return True

    @task(1)
    def rate(self) -> None:
        acked = [m for ids in self.acked.values() for m in ids]
        if not acked:
            return
        ex = self.app.feedback(self.user, random.choice(acked), random.choice(["like", "dislike"]))
        self.record("createMessageFeedback", "POST", ex, judge.judge_exchange("createMessageFeedback", ex))

    @task(1)
    def rename(self) -> None:
        if not self.conversations:
            return
        conversation_id = random.choice(self.conversations)
        ex = self.app.rename(self.user, conversation_id, name=f"load {self.seq}")
        self.record("renameConversation", "POST", ex, judge.judge_exchange("renameConversation", ex))

    @task(1)
    def delete(self) -> None:
        if len(self.conversations) < 3:
            return
        conversation_id = self.conversations.pop(0)
        ex = self.app.delete(self.user, conversation_id)
        problem = judge.judge_exchange("deleteConversation", ex, (200, 204))
        self.record("deleteConversation", "DELETE", ex, problem)
        if ex.status in (200, 204):
            self.acked.pop(conversation_id, None)
            self.ctx.observations.add("deleted", user=self.user, conversation_id=conversation_id)
        else:
            self.conversations.append(conversation_id)
