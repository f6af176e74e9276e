"""Known failures (`--baseline FILE`): adopt the suite before the server is green.

A vendor declares the failures they know of, each by check id and (optionally) subject, with a
reason. The run then fails only on new failures; the known ones are still reported (with their
reason), and entries whose check now passes are listed as fixed, so the file only ever shrinks.

The file is YAML or JSON (YAML is a superset of JSON):

    known_failures:
      - check: history.no_duplicates      # required: a check id as the report shows it
        subject: "2"                      # optional: one subject; absent = every subject of the check
        reason: paging lands in 2.4       # required: why it is known (shown in the report)

A top-level list of entries is accepted too. `--write-baseline FILE` writes this form from a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.results import Record


class BaselineError(ValueError):
    """The baseline file cannot be used (missing, not YAML/JSON, or an entry without check/reason)."""


@dataclass(frozen=True)
class Entry:
    check: str
    subject: str | None
    reason: str

    def matches(self, r: Record) -> bool:
        return r.check == self.check and (self.subject is None or r.subject == self.subject)

    def label(self) -> str:
        return f"{self.check}[{self.subject}]" if self.subject is not None else self.check


@dataclass
class Verdict:
    """What the baseline made of a run: known, new and fixed failures, and entries not judged."""

    known: list[tuple[Record, Entry]] = field(default_factory=list)
    new: list[Record] = field(default_factory=list)
    fixed: list[Entry] = field(default_factory=list)
    not_judged: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "known": [{"check": _name(r), "reason": e.reason} for r, e in self.known],
            "new": [_name(r) for r in self.new],
            "fixed": [{"check": e.label(), "reason": e.reason} for e in self.fixed],
            "not_judged": [e.label() for e in self.not_judged],
        }


def _name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check


def load(path: str) -> list[Entry]:
    """The entries of a baseline file; BaselineError with the reason when it cannot be used."""
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise BaselineError(f"--baseline {path}: not YAML or JSON ({str(exc).splitlines()[0]})") from exc
    items = doc.get("known_failures") if isinstance(doc, dict) else doc
    if doc is None:
        items = []
    if not isinstance(items, list):
        raise BaselineError(f"--baseline {path}: wanted a list `known_failures` of entries (check, reason)")
    entries = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("check"), str) or not item["check"]:
            raise BaselineError(f"--baseline {path}: entry {i} has no `check` (a check id)")
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(f"--baseline {path}: entry {i} ({item['check']}) has no `reason`")
        subject = item.get("subject")
        entries.append(Entry(item["check"], None if subject is None else str(subject), reason.strip()))
    return entries


def judge(records: list[Record], entries: list[Entry]) -> Verdict:
    """Split the run's MUST failures (failed or blocked) into known and new; find fixed entries."""
    verdict = Verdict()
    used: set[Entry] = set()
    for r in records:
        if r.level != "MUST" or r.outcome not in ("failed", "blocked"):
            continue
        entry = next((e for e in entries if e.matches(r)), None)
        if entry is None:
            verdict.new.append(r)
        else:
            used.add(entry)
            verdict.known.append((r, entry))
            r.known = entry.reason
    for e in entries:
        if e in used:
            continue
        judged = [r for r in records if e.matches(r) and r.outcome in ("passed", "warning")]
        (verdict.fixed if judged else verdict.not_judged).append(e)
    return verdict


def dump(records: list[Record], reason: str = "known failure: say why, or fix it") -> str:
    """A baseline file (YAML) declaring every MUST failure of a run."""
    entries = []
    for r in records:
        if r.level == "MUST" and r.outcome in ("failed", "blocked"):
            entry: dict[str, Any] = {"check": r.check}
            if r.subject:
                entry["subject"] = r.subject
            entry["reason"] = r.known or reason
            if entry not in entries:
                entries.append(entry)
    head = "# chat-conformance baseline: known failures (see README, 'Adopting the suite: --baseline')\n"
    return head + yaml.safe_dump({"known_failures": entries}, sort_keys=False, allow_unicode=True)
