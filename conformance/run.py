"""Per-run state: unique users, the answer budget, and the conversations to clean up.

Each run invents its own users (prefix + run id + label) so it never reads or changes data it did
not create, and deletes every conversation and every annotation it created when the session ends.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

import pytest

from conformance.bounds import BudgetSpent
from conformance.causes import Blocked
from conformance.http import Client


@dataclass
class Run:
    prefix: str
    max_chat_calls: int | None = None
    run_id: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S") + "-" + secrets.token_hex(3))
    spent: int = 0
    created: list[tuple[str, str]] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    annotations: list[str] = field(default_factory=list)  # ids of the annotations this run created

    def user(self, label: str) -> str:
        """A fresh user name unique to this run."""
        name = f"{self.prefix}-{self.run_id}-{label}"
        if name not in self.users:
            self.users.append(name)
        return name

    def spend(self, calls: int = 1, what: str = "") -> None:
        """Take `calls` answers from the budget, or skip the check that needs them."""
        if self.max_chat_calls is not None and self.spent + calls > self.max_chat_calls:
            pytest.skip(
                f"budget: {what or 'this check'} needs {calls} chat call(s), "
                f"{self.max_chat_calls - self.spent} left of --max-chat-calls {self.max_chat_calls}"
            )
        self.spent += calls

    def remember(self, user: str, conversation_id: str) -> None:
        if conversation_id and (user, conversation_id) not in self.created:
            self.created.append((user, conversation_id))

    def remember_annotation(self, annotation_id: str) -> None:
        """An annotation this run created (app data: the run deletes it, and only what it created)."""
        if annotation_id and annotation_id not in self.annotations:
            self.annotations.append(annotation_id)

    def forget_annotation(self, annotation_id: str) -> None:
        if annotation_id in self.annotations:
            self.annotations.remove(annotation_id)

    def cleanup(self, client: Client) -> list[str]:
        """Delete what this run created; returns problems (never raises: cleanup must not hide results)."""
        problems = []
        for i, annotation_id in enumerate(list(self.annotations)):
            try:
                ex = client.call("DELETE", f"/apps/annotations/{annotation_id}")
            except (BudgetSpent, Blocked) as exc:
                problems.append(f"cleanup stopped, {len(self.annotations) - i} annotation(s) left: {exc}")
                break
            if ex.status not in (200, 204, 404):
                problems.append(f"annotation {annotation_id}: {ex.answer_line()}")
        for i, (user, conversation_id) in enumerate(self.created):
            try:
                ex = client.call("DELETE", f"/conversations/{conversation_id}", json_body={"user": user})
            except (BudgetSpent, Blocked) as exc:
                problems.append(f"cleanup stopped, {len(self.created) - i} conversation(s) left: {exc}")
                break
            if ex.status not in (200, 204, 404):
                problems.append(f"{conversation_id}: {ex.answer_line()}")
        return problems
