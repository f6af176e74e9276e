"""The run's long streamed answer, made once and shared, in a thread of its own.

The streaming area judges it, and the stop checks of the isolation areas (conformance/foreign.py)
count its pieces as their control while they make their own stream beside it. On the mock's
realistic pacing each long answer takes ~4 s: made once, side by side with the stop checks' own,
the default run is ~8 s shorter than with three made one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from conformance.chatapp import ChatApp, long_answer_query
from conformance.http import StreamResult


class Beside:
    """A stream made in a daemon thread while the caller does something else. Daemon: a run stopped
    by a signal meanwhile exits at once instead of waiting for it (its exchange is bounded like every
    other: a deadline, a body cap). A failure, skip or block in it is raised to whoever waits."""

    def __init__(self, make: Callable[[], StreamResult], name: str) -> None:
        self._made: list[StreamResult] = []
        self._failed: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, args=(make,), name=name, daemon=True)
        self._thread.start()

    def _run(self, make: Callable[[], StreamResult]) -> None:
        try:
            self._made.append(make())
        except BaseException as exc:  # raised in the thread that waits (result)
            self._failed.append(exc)

    def result(self) -> StreamResult:
        self._thread.join()
        if self._failed:
            raise self._failed[0]
        return self._made[0]


class LongStream:
    """The long answer of this run (one new conversation of `user`), started at most once."""

    def __init__(self, app: ChatApp, user: str) -> None:
        self._app, self._user = app, user
        self._started: Beside | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start it in the background (a second call does nothing)."""
        with self._lock:
            if self._started is None:
                app, user = self._app, self._user
                self._started = Beside(
                    lambda: app.stream(user, long_answer_query()), "conformance-long-answer"
                )

    def result(self) -> StreamResult:
        """The stream, once whole (started now if nobody started it)."""
        self.start()
        assert self._started is not None
        return self._started.result()
