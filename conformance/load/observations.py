"""What the load users saw, as plain dicts: cheap to keep, and shippable over Locust's messaging.

A worker cannot judge the run's invariants alone (a conversation one worker's user created may
turn up in another worker's user's listing), so every user records what it did and saw here and
the master judges the union at the end. Kinds:

- `user`: a user the run invented (its conversations are listed and removed at the end)
- `conversation`: a user learned a conversation id it created
- `ack`: an acknowledged message (blocking 200 or a stream's `message_end`), `seq` orders one user's acks
- `seen`: conversation (or message) ids a user's listing returned, with the evidence
- `deleted`: a conversation a user deleted (acknowledged), left out of the final history check
- `finding`: a violation seen on one answer (check id, subject, message, evidence)
- `stream`: timings of one stream: time to first token and token intervals, in ms
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Observation = dict[str, Any]


@dataclass
class Observations:
    """An append-only list with a drain cursor (what a worker has not shipped yet)."""

    items: list[Observation] = field(default_factory=list)
    _shipped: int = 0

    def add(self, kind: str, **values: Any) -> None:
        self.items.append({"kind": kind, **values})

    def extend(self, items: Iterable[Observation]) -> None:
        self.items.extend(items)

    def drain(self) -> list[Observation]:
        """The observations added since the last drain."""
        out = self.items[self._shipped :]
        self._shipped = len(self.items)
        return out

    def of(self, kind: str) -> list[Observation]:
        return [o for o in self.items if o["kind"] == kind]


@dataclass
class Budget:
    """The answer-producing calls this process may still make (None = unlimited)."""

    limit: int | None = None
    spent: int = 0
    refused: int = 0

    def take(self, calls: int = 1) -> bool:
        if self.limit is not None and self.spent + calls > self.limit:
            self.refused += 1
            return False
        self.spent += calls
        return True

    def left(self) -> int | None:
        return None if self.limit is None else self.limit - self.spent


def share(total: int | None, workers: int, index: int) -> int | None:
    """Worker `index`'s share of a budget split evenly over `workers` (the remainder to the first ones)."""
    if total is None:
        return None
    base, extra = divmod(total, max(1, workers))
    return base + (1 if index < extra else 0)
