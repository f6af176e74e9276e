"""`--compare PREVIOUS.json`: what changed since a previous run (new failures, fixed checks, scores).

Records are matched by check id and subject. A check that fails now and passed (or was not run)
before is a new failure; one that failed before and passes now is fixed; the score of each area is
shown before and after. The previous document is a JSON report of this suite (--report x.json or
--results-json); only its `results` (and `meta`) are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.results import Record, Results

BAD = ("failed", "blocked")


class CompareError(ValueError):
    """The previous report cannot be read."""


@dataclass
class Comparison:
    previous: str  # what the previous run was (its file, finish time and run id)
    new_failures: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    still_failing: list[str] = field(default_factory=list)
    changed: list[tuple[str, str, str]] = field(default_factory=list)  # (check, before, now), others
    new_checks: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    scores: list[tuple[str, float | None, float | None]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "previous": self.previous,
            "new_failures": self.new_failures,
            "fixed": self.fixed,
            "still_failing": self.still_failing,
            "changed": [{"check": c, "before": b, "now": n} for c, b, n in self.changed],
            "new_checks": self.new_checks,
            "gone": self.gone,
            "scores": [{"area": a, "before": b, "now": n} for a, b, n in self.scores],
        }


def lines(doc: dict[str, Any]) -> list[str]:
    """A comparison (its JSON form) in a few lines, for the terminal."""
    out = [f"since the previous run ({doc['previous']}):"]
    shown = ", ".join(doc["new_failures"]) or "none"
    out.append(f"  newly failing since the previous run ({len(doc['new_failures'])}): {shown}")
    out.append(f"  fixed since the previous run ({len(doc['fixed'])}): {', '.join(doc['fixed']) or 'none'}")
    out.append(f"  still failing: {len(doc['still_failing'])}")
    for score in doc["scores"]:
        if score["before"] != score["now"]:
            out.append(f"  score {score['area']}: {_pct(score['before'])} -> {_pct(score['now'])}")
    return out


def _pct(score: float | None) -> str:
    return "n/a" if score is None else f"{100 * score:.0f}%"


def _key(check: str, subject: str) -> str:
    return f"{check}[{subject}]" if subject else check


def load(path: str) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareError(f"--compare {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise CompareError(f"--compare {path}: not JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise CompareError(f"--compare {path}: not a JSON report of chat-conformance (no `results` list)")
    return doc


def compare(previous: dict[str, Any], now: Results, label: str = "") -> Comparison:
    before: dict[str, str] = {}
    old_records: list[Record] = []
    for r in previous["results"]:
        if isinstance(r, dict) and isinstance(r.get("check"), str):
            key = _key(r["check"], str(r.get("subject") or ""))
            before[key] = str(r.get("outcome"))
            old_records.append(
                Record(
                    r["check"],
                    str(r.get("area") or r["check"].split(".")[0]),
                    "",
                    str(r.get("level") or "MUST"),
                    str(r.get("outcome")),
                )
            )
    meta = given if isinstance(given := previous.get("meta"), dict) else {}
    when = ", ".join(str(meta[k]) for k in ("finished", "run id") if k in meta)
    result = Comparison(previous=f"{label}{f' ({when})' if when else ''}" or "the previous run")
    after = {_key(r.check, r.subject): r.outcome for r in now.records}
    for key, outcome in after.items():
        was = before.get(key)
        if was is None:
            result.new_checks.append(key)
            if outcome in BAD:
                result.new_failures.append(key)
        elif outcome in BAD and was not in BAD:
            result.new_failures.append(key)
        elif outcome in BAD:
            result.still_failing.append(key)
        elif was in BAD and outcome in ("passed", "warning"):
            result.fixed.append(key)
        elif was != outcome:
            result.changed.append((key, was, outcome))
    result.gone = [key for key in before if key not in after]
    old_areas = Results(old_records).by_area()
    new_areas = now.by_area()
    for area in sorted(set(old_areas) | set(new_areas)):
        result.scores.append(
            (area, Results.score(old_areas.get(area, {})), Results.score(new_areas.get(area, {})))
        )
    return result
