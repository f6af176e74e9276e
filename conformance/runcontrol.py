"""How a run ends when it cannot finish: the time budget (--max-time), a server that does not
answer (bounds.Silence), SIGTERM and SIGINT.

A run stopped early still owes its user every file they asked for, saying what happened: checks
left when the budget is spent, or once the server is found not to answer, are reported as not run
(with the reason; a server that answers nothing fails the run, exit status 1), and an interrupted run
writes its report, results and JUnit marked as interrupted, with its own exit status (130 for
SIGINT, 143 for SIGTERM, as shells report them), never the usage-error status 2.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from conformance.bounds import Budget, BudgetSpent, abort_current
from conformance.options import EXIT_BUDGET, EXIT_FAILED, EXIT_NO_VERDICT, EXIT_OK, EXIT_SIGNAL
from conformance.results import NO_ANSWER, Results

CLEANUP_GRACE = 10.0  # seconds an interrupted or budget-stopped run still spends deleting what it created


class RunControl:
    """A pytest plugin object: registered by conformance.plugin for every run."""

    def __init__(self, budget: Budget, results: Results):
        self.budget = budget
        self.results = results
        self.signal_name: str | None = None
        self.armed = False  # KeyboardInterrupt before the session has started would skip every file
        self.not_run = 0
        self.ran = 0
        self._previous: dict[int, Any] = {}

    # ------------------------------------------------------------ signals

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread (e.g. pytest run in a thread)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError, OSError):
                self._previous[signum] = signal.signal(signum, self._on_signal)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal handler signature
        if self.signal_name is not None:
            # already finishing: a second signal cuts the cleanup short but must not lose the files
            self.budget.max_time, self.budget.grace = 0.0, 0.0
            return
        self.signal_name = signal.Signals(signum).name
        self.budget.max_time = min(self.budget.max_time, time.monotonic() - self.budget.started)
        self.budget.allow_cleanup(CLEANUP_GRACE)
        if not self.armed:  # still in the preflight: end its request; the run stops once the session is up
            abort_current()
            return
        raise KeyboardInterrupt(self.signal_name)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionstart(self, session: pytest.Session) -> Any:  # noqa: ARG002 - hook signature
        try:
            return (yield)
        finally:
            self.armed = True

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:  # noqa: ARG002 - hook signature
        if self.signal_name is not None:
            raise KeyboardInterrupt(self.signal_name)  # a signal that came during the preflight

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> None:  # noqa: ARG002 - hook signature
        if self.signal_name is not None:
            raise KeyboardInterrupt(self.signal_name)

    # ------------------------------------------------------------ the budget

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:  # noqa: ARG002 - hook signature
        if self.budget.spent():
            self.not_run += 1
            pytest.skip(f"not run: {self.budget.why()}")
        self.ran += 1

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef: Any, request: Any) -> Any:  # noqa: ARG002 - hook signature
        try:
            return (yield)
        except BudgetSpent as exc:
            pytest.skip(f"not run: {exc}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:  # noqa: ARG002 - hook signature
        try:
            return (yield)
        except BudgetSpent as exc:
            pytest.skip(f"not run: {exc}")

    # ------------------------------------------------------------ the end

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> Any:  # noqa: ARG002
        self.budget.allow_cleanup(CLEANUP_GRACE)
        elapsed = time.monotonic() - self.budget.started
        total = len(getattr(session, "items", []) or [])
        meta = self.results.meta
        stopped = ""
        if self.signal_name is not None:
            stopped = (
                f"interrupted by {self.signal_name} after {elapsed:.1f} s: {self.ran} of {total} checks "
                "were started; the others were not run"
            )
            meta["interrupted"] = stopped
            session.exitstatus = EXIT_SIGNAL[self.signal_name]
        elif self.budget.halted:
            stopped = (
                f"{self.budget.halted}; the run stopped after {elapsed:.1f} s: {self.not_run} of {total} "
                "checks were not run"
            )
            meta["stopped early"] = stopped
            meta[NO_ANSWER] = self.budget.halted.removeprefix("the server does not answer: ")
            session.exitstatus = EXIT_FAILED  # a server that answers nothing is no conforming server
        elif self.budget.stopped_at is not None:
            stopped = (
                f"the time budget (--max-time {self.budget.max_time:g} s) was spent after {elapsed:.1f} s: "
                f"{self.not_run} of {total} checks were not run"
            )
            meta["stopped early"] = stopped
            if session.exitstatus in (EXIT_OK, EXIT_NO_VERDICT):  # what was not judged ran out of time
                session.exitstatus = EXIT_BUDGET
        try:
            return (yield)
        finally:
            self.uninstall()
            if stopped:
                name = "interrupted" if self.signal_name else "no answer" if self.budget.halted else "budget"
                _mark_junit(session.config, name, stopped)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """The conclusion that stopped the run, in one line (the report's header says it too)."""
        if self.budget.halted and self.signal_name is None:
            terminalreporter.write_line(f"chat-conformance: stopped: {self.budget.halted}")


def _mark_junit(config: pytest.Config, name: str, message: str) -> None:
    """Add one error test case saying how the run stopped to the JUnit file pytest just wrote."""
    xmlpath = getattr(config.option, "xmlpath", None)
    if not xmlpath or not Path(xmlpath).exists():
        return
    tree = ET.parse(xmlpath)
    root = tree.getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        return
    case = ET.SubElement(suite, "testcase", classname="chat-conformance.run", name=name, time="0")
    ET.SubElement(case, "error", message=message).text = message
    suite.set("errors", str(int(suite.get("errors", "0")) + 1))
    suite.set("tests", str(int(suite.get("tests", "0")) + 1))
    tree.write(xmlpath, encoding="utf-8", xml_declaration=True)
