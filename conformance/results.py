"""Check results: one record per check (and subject), written as JSON, Markdown or HTML.

The report groups by area with counts and a score (passed MUST checks / (passed + failed + blocked
MUST checks)), groups the failures by root cause (one heading per cause, conformance.grouping),
explains each failure with its contract rule and evidence (evidence several findings share is shown
once and referred to by label), and lists SHOULD-level findings apart from MUST failures.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from conformance.grouping import Group, group

NO_ANSWER = "server does not answer"  # meta key: the run stopped because nothing answered in time
KEPT = "data left on the server (--keep)"  # meta key: the run kept what it created, for a replay
SHOWN_IN_FULL = 3  # failed checks of one cause shown with their evidence; the others in one line each
SCORE_RULE = (
    "Score = passed MUST checks / (passed + failed + blocked MUST checks); SHOULD findings are counted "
    "under warnings and do not move it; n/a = no MUST check was judged."
)


@dataclass
class Record:
    check: str
    area: str
    title: str
    level: str
    outcome: str  # passed | failed | blocked | skipped | warning
    subject: str = ""
    message: str = ""
    expected: str = ""
    evidence: list[str] = field(default_factory=list)
    nodeid: str = ""
    duration: float = 0.0
    cause: str = ""  # the root cause's key: equal keys are one defect (conformance.causes)
    cause_title: str = ""
    cause_where: str = ""  # the operation the cause was seen on, for a cause that spans operations
    cause_status: int | None = None  # the status answered, for a wrong-status cause
    cause_wanted: str = ""  # the status(es) wanted there
    blocked_by: str = ""  # blocked records: the failed check (or the cause) that stood in the way
    known: str = ""  # a failure the --baseline declares: its reason (it does not fail the run)
    reference: str = ""  # the reference server's known defect that explains it (conformance.reference)


@dataclass
class Results:
    records: list[Record] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    baseline: dict[str, Any] | None = None  # conformance.baseline.Verdict.to_json(), with --baseline
    comparison: dict[str, Any] | None = None  # conformance.compare.Comparison.to_json(), with --compare

    def add(self, record: Record) -> None:
        self.records.append(record)

    def by_area(self) -> dict[str, dict[str, int]]:
        """Outcome counts per area; `must_passed` counts the passed MUST checks (the score's numerator)."""
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in self.records:
            counts[r.area][r.outcome] += 1
            if r.outcome == "passed" and r.level == "MUST":
                counts[r.area]["must_passed"] += 1
            if r.outcome == "blocked" and r.level == "MUST":
                counts[r.area]["must_blocked"] += 1
            if r.level == "MUST" and r.outcome in ("failed", "blocked"):
                counts[r.area]["must_known" if r.known else "must_new"] += 1
        return {area: dict(c) for area, c in sorted(counts.items())}

    def areas_failures_first(self) -> list[tuple[str, dict[str, int]]]:
        """The areas a reader should look at first, first: those with a MUST check failed or blocked
        that the baseline does not know (lowest score first), then those with known failures only,
        then those with warnings, then the others; alphabetical within each."""

        def rank(item: tuple[str, dict[str, int]]) -> tuple[int, float, str]:
            area, c = item
            score = self.score(c)
            tier = 0 if c.get("must_new") else 1 if c.get("must_known") else 2 if c.get("warning") else 3
            return tier, 1.0 if score is None else score, area

        return sorted(self.by_area().items(), key=rank)

    @staticmethod
    def tone(counts: dict[str, int]) -> str:
        """An area's colour: red (`lo`) when a MUST check failed or was blocked, amber (`mid`) when the
        only failures are known ones (baseline), green (`hi`) otherwise, grey (`na`) when no MUST
        check was judged. A score of 95% with one failed MUST check is still a failure."""
        if counts.get("must_new"):
            return "lo"
        if counts.get("must_known"):
            return "mid"
        return "na" if Results.score(counts) is None else "hi"

    @staticmethod
    def score(counts: dict[str, int]) -> float | None:
        """Passed MUST checks / (passed + failed + blocked MUST checks); None when none was judged.

        A blocked MUST check is not proven: it counts against the score like a failure (its cause is
        listed once, under the failure that blocked it). SHOULD-level checks (passed or warned) and
        skips do not move the score; warnings are shown apart.
        """
        passed = counts.get("must_passed", 0)
        judged = passed + counts.get("failed", 0) + counts.get("must_blocked", 0)
        if not judged:
            return None
        return passed / judged

    @staticmethod
    def shown_score(counts: dict[str, int]) -> str:
        s = Results.score(counts)
        return "n/a" if s is None else f"{100 * s:.0f}%"

    def failed(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "failed"]

    def blocked(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "blocked"]

    def causes(self) -> list[Group]:
        """The failed and blocked checks grouped by root cause, the largest group first."""
        return group(self.records)

    def top_causes(self, limit: int = 3) -> list[Group]:
        """The causes the verdict names: those that fail the run (not all known), the largest first."""
        return [g for g in self.causes() if not all(r.known for r in g.records)][:limit]

    def failing(self) -> bool:
        """Whether the run fails: a MUST check failed, or was blocked, and the baseline does not know it;
        or the server did not answer at all (the run stopped, runcontrol)."""
        return NO_ANSWER in self.meta or any(
            r.level == "MUST" and r.outcome in ("failed", "blocked") and not r.known for r in self.records
        )

    def verdict(self) -> str:
        """The run's verdict in one line (the report's banner)."""
        if "could not start" in self.meta:
            return "NOT RUN: " + str(self.meta["could not start"])
        bad = [r for r in self.records if r.level == "MUST" and r.outcome in ("failed", "blocked")]
        new = [r for r in bad if not r.known]
        causes = len({g.key for g in self.causes() if any(not r.known for r in g.records)})
        cut = {"interrupted", "stopped early"} & self.meta.keys()
        stopped = " (stopped early: some checks were not run)" if cut else ""
        if NO_ANSWER in self.meta:
            return (
                f"FAIL: the server does not answer ({len(new)} MUST check(s) failed or blocked before "
                "the run stopped; the others were not run)"
            )
        if new:
            return f"FAIL: {len(new)} MUST check(s) failed or blocked, {causes} root cause(s){stopped}"
        if bad:
            return f"PASS (baseline): {len(bad)} known failure(s), no new failure{stopped}"
        if not self.judged_must():
            return f"NO VERDICT: {self.no_verdict_reason()}{stopped}"
        return f"PASS: every MUST check judged passed{stopped}"

    def judged_must(self) -> int:
        """MUST checks judged (passed, failed or blocked): without one, a run shows nothing either way."""
        return sum(r.level == "MUST" and r.outcome in ("passed", "failed", "blocked") for r in self.records)

    def no_verdict_reason(self) -> str:
        skipped = sum(r.outcome == "skipped" for r in self.records)
        return f"no MUST check was judged ({skipped} skipped or not run, {len(self.records)} in all)"

    def warnings(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "warning"]

    def skipped(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "skipped"]

    def to_json(self) -> dict[str, Any]:
        causes = [g.to_json() for g in self.causes()]  # first: it fills each blocked record's blocked_by
        areas = {a: {**c, "score": self.score(c)} for a, c in self.by_area().items()}
        return {
            "meta": self.meta,
            "areas": areas,
            "causes": causes,
            "verdict": self.verdict(),
            "baseline": self.baseline,
            "comparison": self.comparison,
            "results": [asdict(r) for r in self.records],
        }

    def write(self, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() in (".html", ".htm"):
            target.write_text(self.html(), encoding="utf-8")
        elif target.suffix.lower() == ".json":
            target.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        else:
            target.write_text(self.markdown(), encoding="utf-8")

    def summary_lines(self) -> list[str]:
        """One line per area, failures first."""
        return [self.area_line(area, c) for area, c in self.areas_failures_first()]

    @classmethod
    def area_line(cls, area: str, c: dict[str, int]) -> str:
        return (
            f"{area:<15} score {cls.shown_score(c):>5}  passed {c.get('passed', 0):>3}"
            f"  failed {c.get('failed', 0):>3}  warnings {c.get('warning', 0):>3}"
            f"  skipped {c.get('skipped', 0):>3}  blocked {c.get('blocked', 0):>3}"
        )

    def replay_note(self) -> str:
        """Whether the evidence can be replayed as it stands: the run kept its data, or removed it."""
        kept = self.meta.get(KEPT)
        if kept:
            return (
                f"The run left what it created on the server (--keep: {kept}): the requests below replay "
                "against the same data."
            )
        return (
            "The run removed what it created when it finished, so replaying a request below gets a "
            "different answer (an unknown conversation, an empty page); run with --keep to leave the "
            "data for a replay."
        )

    def markdown(self) -> str:
        out = ["# Conformance report", "", f"**Verdict: {self.verdict()}**", ""]
        if "could not start" in self.meta:
            out += [f"- **{key}**: {value}" for key, value in self.meta.items()]
            return "\n".join(out) + "\n"
        groups = self.causes()
        top = self.top_causes()
        if top:
            out += [f"{i}. {g.heading()}" for i, g in enumerate(top, 1)]
            more = len([g for g in groups if not all(r.known for r in g.records)]) - len(top)
            out += [f"{len(top) + 1}. ... and {more} more (below)"] if more > 0 else []
            out.append("")
        out.append(_identity_line(self.meta))
        labels = _evidence_labels(self.failed() + self.warnings())
        shown: dict[str, str] = {}
        out += ["", f"## Failures (MUST): {len(self.failed())}", ""]
        if groups:
            out += [
                f"{len(self.failed())} failed and {len(self.blocked())} blocked checks, explained by "
                f"{len(groups)} root cause(s), the largest first. {self.replay_note()}",
                "",
            ]
        else:
            out.append("None.")
        for i, g in enumerate(groups, 1):
            out += [f"### Cause {i}: {g.heading()}", ""]
            out += _md_findings(g.failed[:SHOWN_IN_FULL], labels, shown) if g.failed else []
            rest = g.failed[SHOWN_IN_FULL:]
            if rest:  # the same defect again: one line each (every record's evidence is in the JSON)
                out.append(f"- {len(rest)} more failed checks of this cause (their evidence is in the JSON):")
                out += [f"  - `{_name(r)}`{' (known)' if r.known else ''}: {r.message}" for r in rest]
            if g.blocked:
                if not g.failed:
                    out.append("- found while preparing the checks below; evidence:")
                    out.append("")
                    out += _fence("\n".join(g.evidence()) or "(none)")
                    out.append("")
                out.append(
                    f"- blocked by this cause ({len(g.blocked)}, not judged): "
                    + ", ".join(f"`{_name(r)}`" + (" (known)" if r.known else "") for r in g.blocked)
                )
            out.append("")
        out += self._md_baseline() + self._md_comparison()
        out += [
            "",
            "## Score per area",
            "",
            SCORE_RULE + " Areas with a failure first.",
            "",
            "| area | score | passed | failed | warnings | skipped | blocked |",
            "|---|---|---|---|---|---|---|",
        ]
        for area, c in self.areas_failures_first():
            out.append(
                f"| {area} | {self.shown_score(c)} | {c.get('passed', 0)} | "
                f"{c.get('failed', 0)} | {c.get('warning', 0)} | {c.get('skipped', 0)} | "
                f"{c.get('blocked', 0)} |"
            )
        out += ["", "## Server and contract", ""]
        out += [f"- **{key}**: {value}" for key, value in self.meta.items()]
        out += ["", f"## Warnings (SHOULD): {len(self.warnings())}", ""]
        out += _md_findings(self.warnings(), labels, shown)
        out += ["", f"## Skipped: {len(self.skipped())}", ""]
        out += [f"- `{_name(r)}`: {r.message}" for r in self.skipped()] or ["None."]
        return "\n".join(out) + "\n"

    def _md_baseline(self) -> list[str]:
        b = self.baseline
        if b is None:
            return []
        entries = b.get("known_entries", [])
        out = [
            "",
            f"## Baseline: {len(entries)} known, {len(b['new'])} failing check(s) not in the baseline, "
            f"{len(b['fixed'])} fixed",
            "",
            "Known failures (declared in the baseline, with their reason) do not fail the run; a failure the "
            "baseline does not name does.",
            "",
        ]
        out += [f"- not in the baseline (fails the run): `{name}`" for name in b["new"]]
        out += [f"- fixed (remove it from the baseline): `{e['check']}` ({e['reason']})" for e in b["fixed"]]
        out += [f"- known: {e['entry']} ({len(e['checks'])} checks): {e['reason']}" for e in entries]
        out += [f"- not judged in this run: `{name}`" for name in b["not_judged"]]
        return out

    def _md_comparison(self) -> list[str]:
        c = self.comparison
        if c is None:
            return []
        out = ["", f"## Changes since the previous run ({c['previous']})", ""]
        newly = c["new_failures"]
        out.append(f"- newly failing since the previous run ({len(newly)}): " + _codes(newly))
        out.append(f"- fixed since the previous run ({len(c['fixed'])}): " + _codes(c["fixed"]))
        out.append(f"- still failing: {len(c['still_failing'])}")
        for ch in c["changed"]:
            out.append(f"- `{ch['check']}`: {ch['before']} -> {ch['now']}")
        for sc in c["scores"]:
            if sc["before"] != sc["now"]:
                out.append(f"- score of {sc['area']}: {_pct(sc['before'])} -> {_pct(sc['now'])}")
        if c["new_checks"]:
            out.append(f"- checks not in the previous run: {len(c['new_checks'])}")
        if c["gone"]:
            out.append(f"- checks of the previous run not run now: {len(c['gone'])}")
        return out

    def html(self) -> str:
        """The self-contained HTML report (conformance.htmlreport)."""
        from conformance.htmlreport import render

        return render(self)


def _identity_line(meta: dict[str, Any]) -> str:
    """Which server, judged by what, in one line (the whole identity is under "Server and contract")."""
    parts = [str(meta["base URL"])] if meta.get("base URL") else []
    parts += [f"era {meta['era']}"] if meta.get("era") else []
    if meta.get("kit version"):
        parts.append(f"chat-contract-kit {meta['kit version']}")
    if meta.get("contract sha256"):
        parts.append(f"contract sha256 {str(meta['contract sha256'])[:12]}")
    parts += [str(meta["finished"])] if meta.get("finished") else []
    return " · ".join(parts)


def _codes(names: list[str]) -> str:
    return ", ".join(f"`{n}`" for n in names) or "none"


def _pct(score: float | None) -> str:
    return "n/a" if score is None else f"{100 * score:.0f}%"


def _name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check


def _evidence_labels(records: list[Record]) -> dict[str, str]:
    """A label (E1, E2, ...) for each piece of evidence that more than one finding shares.

    One broken stream typically fails several checks with the same exchange as evidence; the report
    shows it once, under the first finding, and the others refer to it by label.
    """
    counts: dict[str, int] = defaultdict(int)
    for r in records:
        for e in set(r.evidence):
            counts[e] += 1
    labels: dict[str, str] = {}
    for r in records:
        for e in r.evidence:
            if counts[e] > 1 and e not in labels:
                labels[e] = f"E{len(labels) + 1}"
    return labels


def _fence(text: str) -> list[str]:
    """A Markdown code fence around `text` (longer than any backtick run inside it), indented for a list."""
    run = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, run + 1)
    return ["    " + fence, *("    " + line for line in text.splitlines()), "    " + fence]


def _md_findings(records: list[Record], labels: dict[str, str], shown: dict[str, str]) -> list[str]:
    if not records:
        return ["None."]
    out = []
    for r in records:
        known = f" (known, baseline: {r.known})" if r.known else ""
        out.append(f"- **`{_name(r)}`** ({r.title}){known}: {r.message}")
        if r.reference:
            out.append(f"  - {r.reference}")
        if r.expected:
            out.append(f"  - contract: {r.expected}")
        for e in r.evidence:
            label = labels.get(e)
            if label and label in shown:
                out.append(f"  - evidence {label}: the same exchange as shown above under `{shown[label]}`")
                continue
            if label:
                shown[label] = _name(r)
            out.append(f"  - evidence{f' {label}' if label else ''}:")
            out.append("")
            out += _fence(e)
            out.append("")
    return out
