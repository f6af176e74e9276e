"""The per-process state of a load run: its settings, the observations, the budget, user names.

One `LoadContext` lives on the Locust environment of each process (local, master or worker). The
settings travel from the master to the workers inside Locust's own spawn message (custom
`parsed_options`), so a worker needs only `--worker --master-host H --master-port P`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from conformance.load.observations import Budget, Observations, share


@dataclass
class Settings:
    base_url: str
    api_key: str
    run_id: str
    user_prefix: str = "conformance"
    timeout: float = 10.0
    stream_timeout: float = 30.0
    max_chat_calls: int | None = None
    workers: int = 1
    keep: bool = False
    think_time: tuple[float, float] = (1.0, 3.0)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    def __post_init__(self) -> None:
        self.think_time = (float(self.think_time[0]), float(self.think_time[1]))  # a list after messaging


@dataclass
class LoadContext:
    settings: Settings
    worker_index: int | None = None
    observations: Observations = field(default_factory=Observations)
    budget: Budget = field(default_factory=Budget)
    _numbers: Any = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        index = 0 if self.worker_index is None else self.worker_index
        self.budget = Budget(share(self.settings.max_chat_calls, self.settings.workers, index))

    def user_label(self) -> str:
        """A label unique within the run: `u7` locally, `w1-u7` on worker 1."""
        number = next(self._numbers)
        return f"u{number}" if self.worker_index is None else f"w{self.worker_index}-u{number}"


ATTRIBUTE = "chat_load"


def context_of(environment: Any) -> LoadContext:
    return getattr(environment, ATTRIBUTE)
