"""What a person running the suite reads in the terminal, as it happens.

A start line (the server, the era, the contract's hash, the areas judged) as soon as the preflight
has passed; one line per area as its last check finishes, with its score; and at the end the root
causes first, each with a one-line entry per failed check, then the scores (failures first) and
the verdict. pytest's own per-check output (dots, a traceback-like block per failure that repeats
the evidence, the short summary) is turned off unless -v is given: the evidence is in the report
files, and with -v every check is listed and each failure shown whole.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import pytest

from conformance.clip import middle
from conformance.grouping import name

if TYPE_CHECKING:
    from conformance.options import Options
    from conformance.results import Record, Results

ENTRY_WIDTH = 160  # a failed check's entry: one line, long messages cut in the middle
TITLE_WIDTH = 140  # a cause's title in its heading (the report has it whole)


def quiet(config: pytest.Config) -> bool:
    """Whether this run shows the suite's own progress instead of pytest's (no -v given)."""
    return config.get_verbosity() <= 0


def tame_pytest(config: pytest.Config) -> None:
    """Without -v: no traceback block per failure (it repeats the evidence the report has), unless the
    user chose a --tb style; called from pytest_configure."""
    if quiet(config) and getattr(config.option, "tbstyle", "auto") == "auto":
        config.option.tbstyle = "no"


class Progress:
    """A pytest plugin object: the start line, a line per finished area, the summary at the end."""

    def __init__(self, results: Results, opts: Options, identity: dict[str, str]):
        self.results = results
        self.opts = opts
        self.identity = identity
        self.started = time.monotonic()
        self.last_of_area: dict[str, str] = {}  # nodeid of an area's last check -> the area
        self.reporter: Any = None

    def _write(self, line: str) -> None:
        if self.reporter is not None:
            self.reporter.ensure_newline()
            self.reporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if self.reporter is not None and quiet(session.config):
            # the suite's own lines replace pytest's dots, module names, progress and short summary
            own = {"showfspath": False, "_show_progress_info": False, "reportchars": ""}
            for attribute, value in own.items():
                if hasattr(self.reporter, attribute):
                    setattr(self.reporter, attribute, value)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection(self, session: pytest.Session) -> None:  # noqa: ARG002 - hook signature
        """The start line: what is judged, by what, before the checks are even collected."""
        areas = sorted(self.opts.effective_areas(), key=_area_order)
        self._write(
            f"chat-conformance: judging {self.opts.base_url}, era {self.opts.era}, contract sha256 "
            f"{self.identity.get('contract sha256', '?')[:12]} (chat-contract-kit "
            f"{self.identity.get('kit version', '?')}), {len(areas)} area{'' if len(areas) == 1 else 's'}: "
            f"{', '.join(areas)}"
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        """Without -v no dot per check: the area lines say how the run goes (the counts are kept)."""
        result = yield
        if result and quiet(config):
            return result[0], "", ""
        return result

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        last: dict[str, str] = {}
        for item in session.items:
            mark = item.get_closest_marker("conformance")
            if mark is not None:
                last[mark.args[0].split(".")[0]] = item.nodeid
        self.last_of_area = {nodeid: area for area, nodeid in last.items()}
        self._write(f"chat-conformance: {len(session.items)} checks; a line per area as it finishes")

    def pytest_runtest_logfinish(self, nodeid: str) -> None:
        area = self.last_of_area.get(nodeid)
        if area is None:
            return
        counts = self.results.by_area().get(area, {})
        elapsed = time.monotonic() - self.started
        self._write(f"  {self.results.area_line(area, counts)}  ({elapsed:.0f} s)")


def _area_order(area: str) -> int:
    from conformance.options import AREAS

    return AREAS.index(area) if area in AREAS else len(AREAS)


def entry(r: Record) -> str:
    """A failed check in one line: its name and what went wrong (the evidence is in the files)."""
    known = f" (known: {r.known})" if r.known else ""
    return middle(f"{name(r)}: {' '.join(r.message.split())}{known}", ENTRY_WIDTH)


def summary(results: Results, opts: Options, verbose: bool) -> list[tuple[str, list[str]]]:
    """The end of a run as (section title, lines): the causes first, each with its failed checks
    one line each, then the warnings, the scores (failures first), history and the verdict."""
    sections: list[tuple[str, list[str]]] = []
    groups = results.causes()
    if groups:
        lines = []
        for i, g in enumerate(groups, 1):  # a title made of a long message: cut in the middle
            lines.append(f"{i}. {dataclasses.replace(g, title=middle(g.title, TITLE_WIDTH)).heading()}")
            lines += [f"     {entry(r)}" for r in g.failed]
            if g.blocked:
                names = ", ".join(name(r) for r in g.blocked)
                lines.append(f"     {middle(f'blocked by it ({len(g.blocked)}): {names}', ENTRY_WIDTH)}")
        files = [*opts.reports(), *([opts.results_json] if opts.results_json else [])]
        where = f"in {', '.join(files)}" if files else "with --report report.html"
        lines.append(
            "the evidence of each failure (requests, answers, curl lines) is "
            + (f"above and {where}" if verbose else f"{where}, or run with -v")
        )
        sections.append(("chat conformance: failures by root cause", lines))
    warnings = [
        middle(f"WARNING (SHOULD) {name(r)}: {' '.join(r.message.split())}", ENTRY_WIDTH)
        + (f" [{r.reference}]" if r.reference else "")
        for r in results.warnings()
    ]
    areas = results.areas_failures_first()
    clean = [area for area, c in areas if results.tone(c) == "hi" and not c.get("warning")]
    shown = [results.area_line(area, c) for area, c in areas if area not in clean]
    if clean:  # each had its line as it finished; here only their names
        shown.append(f"{len(clean)} more at 100% (no failure, no warning): {', '.join(clean)}")
    scores = [
        "score = passed MUST / (passed + failed + blocked MUST); n/a = no MUST check judged",
        *shown,
        *warnings,
    ]
    sections.append(("chat conformance: score per area", scores))
    return sections
