"""The end of a run: read back what every user created, remove it, and judge the run's invariants.

Runs once, in the process that writes the report (local or master), over the observations of all
processes. Every user of the run is fresh, so everything its listing returns was created by the
run: the final walk finds (and removes) even conversations whose creating request was cut off.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from conformance.chatapp import ChatApp, walk_conversations, walk_history
from conformance.checking import CheckFailed
from conformance.http import Client
from conformance.load import judge
from conformance.load.observations import Observation
from conformance.results import Record
from conformance.run import Run

ACKED = "load.acknowledged_in_history"
ISOLATION = "load.isolation"
PAGINATION = "load.pagination_consistent"
FINAL_LIMIT = 100

# (check id, title, contract rule): the invariants, in report order
CHECKS: list[tuple[str, str, str]] = [
    (
        judge.RESPONSES,
        "every answer under load is the contract's (status, schema); 429/503 overload answers "
        "are counted, not failed",
        "each operation answers its declared success status with a body matching its schema; "
        "no 5xx but 503 overload",
    ),
    (
        judge.STREAMS,
        "every stream under load is valid and ends with its terminal event",
        "sendChatMessage, streaming: every event matches ChatStreamItem and the stream ends with exactly "
        "one terminal event (message_end or error)",
    ),
    (
        ACKED,
        "every acknowledged message is in its conversation's history exactly once, in order",
        "listMessages returns every message of the conversation once, oldest first; a 200 (blocking) or a "
        "message_end (streaming) acknowledges the message",
    ),
    (
        ISOLATION,
        "no user ever saw another user's conversation or message",
        "conversations and messages are scoped to the `user` that created them",
    ),
    (
        PAGINATION,
        "pagination walked while conversations are written returns no duplicates",
        "cursor pagination (first_id, last_id) returns each item at most once",
    ),
]


# What a broken invariant is, as a defect: the title of its cause in the report (the rule, not one
# instance's message; the message counts the violations and names the first).
DEFECTS = {
    judge.RESPONSES: "answers under load break the contract (status or schema)",
    judge.STREAMS: "streams under load break off or end without their terminal event",
    ACKED: "acknowledged messages are missing from history, there twice, or out of order",
    ISOLATION: "a user is shown another user's conversations or messages",
    PAGINATION: "paging while conversations are written returns an item twice",
}


@dataclass
class Final:
    """What the final read-back found for one user."""

    user: str
    listed: list[str] = field(default_factory=list)
    listing_evidence: str = ""
    histories: dict[str, list[Any]] = field(default_factory=dict)  # ids as answered (maybe none)
    evidence: dict[str, str] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    deleted: int = 0
    cleanup_problems: list[str] = field(default_factory=list)


def read_back(client: Client, run: Run, user: str, known: list[str], deleted: set[str], keep: bool) -> Final:
    """List the user's conversations, read each one's whole history, then delete them (unless keep)."""
    app = ChatApp(client, run)
    final = Final(user)
    try:
        walk = walk_conversations(app, user, FINAL_LIMIT, max_pages=len(known) // FINAL_LIMIT + 5)
        final.listed = [c["id"] for c in walk.items() if isinstance(c, dict)]
        last = walk.last()
        final.listing_evidence = last.evidence() if last else ""
    except CheckFailed as exc:
        final.findings.append(judge.finding(judge.RESPONSES, "listConversations", exc.message, exc.evidence))
    for conversation_id in dict.fromkeys(final.listed + [c for c in known if c not in deleted]):
        try:
            walk = walk_history(app, user, conversation_id, FINAL_LIMIT, max_pages=50)
            final.histories[conversation_id] = [
                m.get("id")
                for page in reversed(walk.pages)
                for m in page.get("data", [])
                if isinstance(m, dict)
            ]
            last = walk.last()
            final.evidence[conversation_id] = last.evidence() if last else ""
        except CheckFailed as exc:
            if conversation_id in final.listed or "404" not in exc.message:
                final.findings.append(
                    judge.finding(judge.RESPONSES, "listMessages", exc.message, exc.evidence)
                )
        if not keep:
            ex = app.delete(user, conversation_id)
            if ex.status in (200, 204):
                final.deleted += 1
            elif ex.status != 404:
                final.cleanup_problems.append(f"{conversation_id}: {ex.answer_line()}")
    return final


def finish(
    observations: list[Observation], client_factory: Any, run: Run, keep: bool, parallel: int = 16
) -> list[Final]:
    """The final read-back (and cleanup) of every user the run invented, `parallel` users at a time."""
    known: dict[str, list[str]] = defaultdict(list)
    deleted: set[str] = set()
    for o in observations:
        if o["kind"] == "conversation":
            known[o["user"]].append(o["conversation_id"])
        elif o["kind"] == "deleted":
            deleted.add(o["conversation_id"])
    users = list(dict.fromkeys(o["user"] for o in observations if o["kind"] == "user"))

    def one(user: str) -> Final:
        return read_back(client_factory(), run, user, known[user], deleted, keep)

    with ThreadPoolExecutor(max(1, parallel)) as pool:
        return list(pool.map(one, users))


@dataclass
class Verdict:
    """One invariant over the whole run: how much it judged and every violation, with evidence."""

    check: str
    title: str
    contract: str
    judged: int = 0
    violations: list[dict[str, Any]] = field(default_factory=list)


def judge_run(observations: list[Observation], finals: list[Final], requests: int) -> list[Verdict]:
    """Every invariant, judged over all observations and the final read-back."""
    verdicts = {check: Verdict(check, title, rule) for check, title, rule in CHECKS}
    for o in observations:
        if o["kind"] == "finding" and o["check"] in verdicts:
            verdicts[o["check"]].violations.append(o)
    for final in finals:
        verdicts[judge.RESPONSES].violations += final.findings
    verdicts[judge.RESPONSES].judged = requests
    verdicts[judge.STREAMS].judged = sum(1 for o in observations if o["kind"] == "stream")
    verdicts[PAGINATION].judged = sum(1 for o in observations if o["kind"] == "walk")
    _acknowledged(observations, finals, verdicts[ACKED])
    _isolation(observations, finals, verdicts[ISOLATION])
    return list(verdicts.values())


def _acknowledged(observations: list[Observation], finals: list[Final], verdict: Verdict) -> None:
    deleted = {o["conversation_id"] for o in observations if o["kind"] == "deleted"}
    acks: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        if o["kind"] == "ack" and o["conversation_id"] not in deleted:
            acks[o["conversation_id"]].append(o)
    histories = {c: (f, h) for f in finals for c, h in f.histories.items()}
    for conversation_id, items in acks.items():
        items.sort(key=lambda o: o["seq"])
        verdict.judged += len(items)
        if conversation_id not in histories:
            continue  # reading it back failed: that is a finding of its own (responses_valid)
        final, history = histories[conversation_id]
        wanted = [o["message_id"] for o in items]
        evidence = final.evidence.get(conversation_id, "")
        for o in items:
            count = history.count(o["message_id"])
            if count != 1:
                verdict.violations.append(
                    judge.finding(
                        ACKED,
                        "",
                        f"acknowledged message {o['message_id']} is "
                        f"{'missing from' if not count else f'{count} times in'}"
                        f" the history of conversation {conversation_id} ({len(history)} messages)",
                        [f"acknowledged by: {o.get('evidence', '')}", f"history read at the end: {evidence}"],
                    )
                )
        order = [m for m in history if m in set(wanted)]
        if order != wanted and all(history.count(m) == 1 for m in wanted):
            verdict.violations.append(
                judge.finding(
                    ACKED,
                    "",
                    f"conversation {conversation_id}: history order {order} differs from the order the "
                    f"messages were acknowledged {wanted}",
                    [f"history read at the end: {evidence}"],
                )
            )


def _isolation(observations: list[Observation], finals: list[Final], verdict: Verdict) -> None:
    owner: dict[str, str] = {}
    for o in observations:
        if o["kind"] == "conversation":
            owner.setdefault(o["conversation_id"], o["user"])
        elif o["kind"] == "ack":
            owner.setdefault(o["message_id"], o["user"])
    seen = [o for o in observations if o["kind"] == "seen"]
    seen += [
        {"user": f.user, "what": "conversations", "ids": f.listed, "evidence": f.listing_evidence}
        for f in finals
    ]
    for o in seen:
        verdict.judged += 1
        foreign = [(i, owner[i]) for i in o["ids"] if owner.get(i, o["user"]) != o["user"]]
        if foreign:
            ident, other = foreign[0]
            noun = "conversation" if o["what"] == "conversations" else "message"
            verdict.violations.append(
                judge.finding(
                    ISOLATION,
                    "listConversations" if noun == "conversation" else "listMessages",
                    f"user {o['user']} was shown {noun} {ident} of user {other}"
                    + (f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""),
                    [o.get("evidence", "")],
                )
            )


def records(verdicts: list[Verdict], examples: int = 3) -> list[Record]:
    """One record per invariant (and operation, for per-answer checks): one cause, one finding.

    The message counts the violations and names the first; the evidence of the first `examples`
    violations is kept.
    """
    out = []
    for v in verdicts:
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for violation in v.violations:
            groups[violation.get("subject", "")].append(violation)
        if not groups:
            out.append(
                Record(
                    v.check,
                    "load",
                    v.title,
                    "MUST",
                    "passed",
                    message=f"{v.judged} judged",
                    expected=v.contract,
                )
            )
            continue
        for subject, items in sorted(groups.items()):
            first = items[0]
            more = (
                f" ({len(items)} violations of {v.judged} judged)"
                if v.judged
                else f" ({len(items)} violations)"
            )
            evidence = [e for item in items[:examples] for e in item.get("evidence", []) if e]
            out.append(
                Record(
                    v.check,
                    "load",
                    v.title,
                    "MUST",
                    "failed",
                    subject=subject,
                    message=first["message"] + more,
                    expected=first.get("expected") or v.contract,
                    evidence=list(dict.fromkeys(evidence)),
                    cause=f"load: {v.check} {subject}".strip(),
                    cause_title=DEFECTS[v.check] + (f": {subject}" if subject else ""),
                )
            )
    return out
