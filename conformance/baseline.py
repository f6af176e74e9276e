"""Known failures (`--baseline FILE`): adopt the suite before the server is green.

A vendor declares the defects they know of, one entry per root cause (the cause key the report groups
by), each with a reason. The run then fails only on failures no entry explains; the known ones are
still reported (with their reason), and entries whose checks now pass are listed as fixed, so the
file only ever shrinks. The file is YAML or JSON (YAML is a superset of JSON):

    known_failures:
      - cause: "listMessages: parameter first_id"      # a cause key, as --write-baseline writes it
        title: "listMessages: `first_id` is ignored"   # for people; not matched
        checks: [history.order[1], history.complete]    # optional: the checks it explained
        operations: [GET /messages]                     # optional: where a wrong status was seen
        reason: cursor paging is fixed in 2.4 (TICKET-123)   # required, and not the placeholder
      - check: audio.speech_message     # the older form: one check (all subjects, or `subject`)
        reason: text to speech is not offered by our deployment

A failure is known when its cause key is the entry's (on one of the entry's operations, when it lists
them: the same wrong status on another operation is news), or it is one of the entry's checks.
`--write-baseline FILE` writes one entry per cause of a run, with a placeholder reason the next run
refuses until someone writes why (a baseline nobody explained would turn a red run green silently).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.data import parse_yaml
from conformance.results import Record, Results


class BaselineError(ValueError):
    """The baseline file cannot be used (missing, not YAML/JSON, or an entry without check/reason)."""


PLACEHOLDER = "TODO: say why this failure is known (and until when), or fix it"
# what earlier releases wrote as the reason; refused alike
PLACEHOLDERS = (PLACEHOLDER, "known failure: say why, or fix it")


@dataclass(frozen=True)
class Entry:
    reason: str
    check: str | None = None
    subject: str | None = None
    cause: str | None = None
    title: str = ""
    checks: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()

    def matches(self, r: Record) -> bool:
        if self.cause is None:
            return r.check == self.check and (self.subject is None or r.subject == self.subject)
        if _name(r) in self.checks:
            return True
        key = r.cause or f"check {r.check}"
        where_ok = not self.operations or not r.cause_where or r.cause_where in self.operations
        return key == self.cause and where_ok

    def label(self) -> str:
        if self.cause is not None:
            return self.title or self.cause
        return f"{self.check}[{self.subject}]" if self.subject is not None else str(self.check)

    def judged_by(self, r: Record) -> bool:
        """Whether `r` judges what this entry declares (for telling fixed from not judged)."""
        if self.cause is None:
            return self.matches(r)
        return _name(r) in self.checks or r.check in {c.split("[")[0] for c in self.checks}


@dataclass
class Verdict:
    """What the baseline made of a run: known, new and fixed failures, and entries not judged."""

    known: list[tuple[Record, Entry]] = field(default_factory=list)
    new: list[Record] = field(default_factory=list)
    fixed: list[Entry] = field(default_factory=list)
    not_judged: list[Entry] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        by_entry: dict[Entry, list[str]] = {}
        for r, e in self.known:
            by_entry.setdefault(e, []).append(_name(r))
        return {
            "known": [{"check": _name(r), "reason": e.reason, "entry": e.label()} for r, e in self.known],
            "known_entries": [
                {"entry": e.label(), "reason": e.reason, "checks": names} for e, names in by_entry.items()
            ],
            "new": [_name(r) for r in self.new],
            "fixed": [{"check": e.label(), "reason": e.reason} for e in self.fixed],
            "not_judged": [e.label() for e in self.not_judged],
        }


def line(doc: dict[str, Any]) -> str:
    """A baseline verdict (its JSON form) in one line, for the terminal."""
    entries = doc.get("known_entries", [])
    known = f"{len(entries)} known (their {len(doc['known'])} checks do not fail the run)"
    fixed = f"{len(doc['fixed'])} fixed" + (
        f" (remove from the baseline: {'; '.join(e['check'] for e in doc['fixed'])})" if doc["fixed"] else ""
    )
    return f"baseline: {known}, {len(doc['new'])} failing check(s) not in the baseline, {fixed}"


def _name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def load(path: str) -> list[Entry]:
    """The entries of a baseline file; BaselineError with the reason when it cannot be used."""
    try:
        doc = parse_yaml(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BaselineError(f"--baseline {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise BaselineError(f"--baseline {path}: not YAML or JSON ({str(exc).splitlines()[0]})") from exc
    items = doc.get("known_failures") if isinstance(doc, dict) else doc
    if doc is None:
        items = []
    if not isinstance(items, list):
        raise BaselineError(
            f"--baseline {path}: wanted a list `known_failures` of entries (cause or check, reason)"
        )
    entries = []
    for i, item in enumerate(items, 1):
        named = isinstance(item, dict) and any(
            isinstance(item.get(k), str) and item[k] for k in ("cause", "check")
        )
        if not named:
            raise BaselineError(f"--baseline {path}: entry {i} has no `cause` (a cause key) and no `check`")
        what = item.get("cause") or item["check"]
        reason = item.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            raise BaselineError(f"--baseline {path}: entry {i} ({what}) has no `reason`")
        if reason.strip() in PLACEHOLDERS:
            raise BaselineError(
                f"--baseline {path}: entry {i} ({what}) still has the reason --write-baseline put there; "
                "write why this failure is known (or fix it and remove the entry)"
            )
        subject = item.get("subject")
        entries.append(
            Entry(
                reason=reason.strip(),
                check=item.get("check") if isinstance(item.get("check"), str) and item["check"] else None,
                subject=None if subject is None else str(subject),
                cause=item.get("cause") if isinstance(item.get("cause"), str) and item["cause"] else None,
                title=str(item.get("title") or ""),
                checks=_strings(item.get("checks")),
                operations=_strings(item.get("operations")),
            )
        )
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
        judged = [r for r in records if e.judged_by(r) and r.outcome in ("passed", "warning")]
        (verdict.fixed if judged else verdict.not_judged).append(e)
    return verdict


def dump(results: Results) -> str:
    """A baseline file (YAML) declaring each root cause of a run's MUST failures, one entry each, with
    a placeholder reason to replace (kept from the baseline the run was judged by, when it had one)."""
    entries = []
    for g in results.causes():
        must = [r for r in g.records if r.level == "MUST"]
        if not must:
            continue
        entry: dict[str, Any] = {"cause": g.key, "title": g.title}
        operations = sorted({r.cause_where for r in must if r.cause_where})
        if operations:
            entry["operations"] = operations
        entry["checks"] = list(dict.fromkeys(_name(r) for r in must))
        entry["reason"] = next((r.known for r in must if r.known), PLACEHOLDER)
        entries.append(entry)
    head = (
        "# chat-conformance baseline: known failures, one entry per root cause (README, 'Adopting the\n"
        "# suite'). Replace each reason with why the failure is known; a run refuses the placeholder.\n"
    )
    return head + yaml.safe_dump({"known_failures": entries}, sort_keys=False, allow_unicode=True, width=110)
