"""One heading per root cause: the failed and blocked checks of a run, grouped by what explains them.

A record's cause key (set by the check's failure, see conformance.causes) decides its group; a
record without one joins the group of a record that showed the same exchange (its first piece of
evidence), and otherwise its check's group (the subjects of one check, e.g. history.has_more[1..3],
are one finding). Blocked records join the group of the cause that blocked them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conformance.results import Record


@dataclass
class Group:
    key: str
    title: str
    failed: list[Record] = field(default_factory=list)
    blocked: list[Record] = field(default_factory=list)

    @property
    def records(self) -> list[Record]:
        return self.failed + self.blocked

    @property
    def size(self) -> int:
        return len(self.failed) + len(self.blocked)

    @property
    def reference(self) -> str:
        """The reference server's known defect behind this cause, when one of its records names it."""
        return next((r.reference for r in self.records if r.reference), "")

    def evidence(self) -> list[str]:
        """The evidence shown once for the whole cause: that of its first record that has any."""
        return next((r.evidence for r in self.records if r.evidence), [])

    def heading(self) -> str:
        parts = [f"{len(self.failed)} failed"] if self.failed else []
        if self.blocked:
            parts.append(f"{len(self.blocked)} blocked")
        noun = "check" if self.size == 1 else "checks"
        heading = f"{self.title}: {self.size} {noun}" + (f" ({', '.join(parts)})" if self.blocked else "")
        return heading + (f" [{self.reference}]" if self.reference else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "failed": [name(r) for r in self.failed],
            "blocked": [name(r) for r in self.blocked],
            "evidence": self.evidence()[:1],
            "reference": self.reference,
        }


def name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check


def group(records: list[Record], outcomes: tuple[str, ...] = ("failed", "blocked")) -> list[Group]:
    """The groups of the records with these outcomes, the largest first (ties: first seen first)."""
    findings = [r for r in records if r.outcome in outcomes]
    by_evidence: dict[str, str] = {}
    for r in findings:  # explicit causes claim their exchanges first
        if r.cause and r.evidence:
            by_evidence.setdefault(r.evidence[0], r.cause)
    groups: dict[str, Group] = {}
    for r in findings:
        key = r.cause or next((by_evidence[e] for e in r.evidence if e in by_evidence), "")
        key = key or f"check {r.check}"
        if r.evidence:
            by_evidence.setdefault(r.evidence[0], key)
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, r.cause_title or _fallback_title(r))
        (g.blocked if r.outcome == "blocked" else g.failed).append(r)
    _join_same_door(groups)
    _join_fuzzing(groups)
    for g in groups.values():  # a cause's own title (from any of its records) beats a fallback
        g.title = _spanning_title(g, next((r.cause_title for r in g.records if r.cause_title), g.title))
    ordered = sorted(groups.values(), key=lambda g: -g.size)  # sorted() is stable: ties keep run order
    for g in ordered:
        cause_of = name(g.failed[0]) if g.failed else g.title
        for r in g.blocked:
            r.blocked_by = cause_of
    return ordered


def _join_same_door(groups: dict[str, Group]) -> None:
    """Causes that show the same wrong status where the same status is wanted on the same operation
    are one defect (another user's message and an unknown one both answered 200 where 404 is wanted:
    the server never looks the message up), whichever checks found them."""
    owner: dict[tuple[str, int, str], str] = {}
    for key in list(groups):
        g = groups.get(key)
        if g is None:
            continue
        for r in list(g.records):
            if not r.cause_where or r.cause_status is None or not r.cause_wanted:
                continue
            door = (r.cause_where, r.cause_status, r.cause_wanted)
            other = owner.setdefault(door, key)
            if other != key and other in groups and key in groups:
                keep, gone = (other, key) if groups[other].size >= groups[key].size else (key, other)
                groups[keep].failed += groups[gone].failed
                groups[keep].blocked += groups[gone].blocked
                del groups[gone]
                for d, k in owner.items():
                    if k == gone:
                        owner[d] = keep
                if gone == key:
                    break


def _join_fuzzing(groups: dict[str, Group]) -> None:
    """A fuzzing finding that a named check already explains (the same operation answering the same
    wrong status) joins that check's cause instead of a heading of its own; the other findings of a
    fuzzing cause stay in it."""
    named: dict[tuple[str, int | None], str] = {
        (r.cause_where, r.cause_status): key
        for key, g in groups.items()
        if not key.startswith(FUZZ_PREFIX)
        for r in g.records
        if r.cause_where and r.cause_status is not None
    }
    for key in [k for k in groups if k.startswith(FUZZ_PREFIX)]:
        g = groups[key]
        for bucket in (g.failed, g.blocked):
            for r in list(bucket):
                target = named.get((r.cause_where, r.cause_status))
                if target is not None:
                    bucket.remove(r)
                    (groups[target].blocked if r.outcome == "blocked" else groups[target].failed).append(r)
        if not g.records:
            del groups[key]


def _spanning_title(g: Group, title: str) -> str:
    """A cause seen on several operations names them all (its title names the first it was seen on)."""
    wheres = list(dict.fromkeys(r.cause_where for r in g.records if r.cause_where))
    if len(wheres) < 2:
        return title
    first = wheres[0]
    if title.startswith(first + " answers "):  # a wrong status: "N operations answer ... where ..."
        return (
            f"{len(wheres)} operations answer"
            + title[len(first) + len(" answers") :]
            + f": {', '.join(wheres)}"
        )
    return f"{title}, on {len(wheres)} operations: {', '.join(wheres)}"


FUZZ_PREFIX = "fuzz: "


def _fallback_title(r: Record) -> str:
    message = r.message.removeprefix("while preparing: ")
    return f"{r.check}: {message}" if message else f"{r.check}: {r.title}"
