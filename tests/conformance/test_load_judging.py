"""The load run's judging, on hand-made observations and answers: every invariant can fail.

(The load gallery in test_load.py proves the same against broken servers; these pin the rules.)
"""

from __future__ import annotations

import json

import pytest

from conformance.http import Exchange, StreamResult
from conformance.load import invariants, judge
from conformance.load.invariants import Final
from conformance.load.report import judge_thresholds, parse_threshold, percentile, series, timing_summary
from conformance.results import Results
from conformance.sse import parse
from tests.conformance.harness import ROOT

A, B = "conformance-load-r-u0", "conformance-load-r-u1"
C1, C2 = "c0000000-0000-4000-8000-000000000001", "c0000000-0000-4000-8000-000000000002"


def acks(user: str, conversation: str, *ids: str) -> list[dict]:
    base = [
        {"kind": "user", "user": user},
        {"kind": "conversation", "user": user, "conversation_id": conversation},
    ]
    return base + [
        {
            "kind": "ack",
            "user": user,
            "conversation_id": conversation,
            "message_id": m,
            "seq": i,
            "evidence": m,
        }
        for i, m in enumerate(ids)
    ]


def outcome(observations: list[dict], finals: list[Final], check: str) -> tuple[str, str]:
    records = invariants.records(invariants.judge_run(observations, finals, requests=10))
    found = [r for r in records if r.check == check]
    assert len(found) == 1, found  # one cause, one finding
    return found[0].outcome, found[0].message


def test_acknowledged_messages_exactly_once_and_in_order() -> None:
    obs = acks(A, C1, "m1", "m2", "m3")
    assert (
        outcome(obs, [Final(A, listed=[C1], histories={C1: ["m1", "m2", "m3"]})], invariants.ACKED)[0]
        == "passed"
    )
    lost = outcome(obs, [Final(A, listed=[C1], histories={C1: ["m1", "m3"]})], invariants.ACKED)
    assert lost[0] == "failed" and "m2 is missing" in lost[1]
    twice = outcome(obs, [Final(A, listed=[C1], histories={C1: ["m1", "m2", "m2", "m3"]})], invariants.ACKED)
    assert twice[0] == "failed" and "2 times" in twice[1]
    swapped = outcome(obs, [Final(A, listed=[C1], histories={C1: ["m2", "m1", "m3"]})], invariants.ACKED)
    assert swapped[0] == "failed" and "order" in swapped[1]
    deleted = obs + [{"kind": "deleted", "user": A, "conversation_id": C1}]
    assert outcome(deleted, [Final(A)], invariants.ACKED)[0] == "passed"


def test_isolation_foreign_conversation_or_message() -> None:
    obs = acks(A, C1, "m1") + acks(B, C2, "m2")
    finals = [Final(A, listed=[C1], histories={C1: ["m1"]}), Final(B, listed=[C2], histories={C2: ["m2"]})]
    assert outcome(obs, finals, invariants.ISOLATION)[0] == "passed"
    leaked = obs + [{"kind": "seen", "user": B, "what": "conversations", "ids": [C2, C1], "evidence": "GET"}]
    result = outcome(leaked, finals, invariants.ISOLATION)
    assert result[0] == "failed" and f"user {B} was shown conversation {C1} of user {A}" in result[1]
    message = obs + [{"kind": "seen", "user": A, "what": "messages", "ids": ["m2"], "evidence": "GET"}]
    assert outcome(message, finals, invariants.ISOLATION)[0] == "failed"
    at_the_end = [Final(A, listed=[C1, C2], histories={C1: ["m1"]}), finals[1]]
    assert outcome(obs, at_the_end, invariants.ISOLATION)[0] == "failed"


def test_pagination_and_stream_findings_are_grouped_per_check() -> None:
    dup = judge.finding(invariants.PAGINATION, "listConversations", "returned x again", ["GET ..."])
    obs = [{"kind": "walk"}] * 3 + [{"kind": "finding", "user": A, **dup}] * 2
    state, message = outcome(obs, [], invariants.PAGINATION)
    assert state == "failed" and "(2 violations of 3 judged)" in message


def exchange(status: int, body: object, ctype: str = "application/json") -> Exchange:
    return Exchange(
        "GET",
        "http://127.0.0.1/v1/conversations",
        status=status,
        text=json.dumps(body),
        headers={"content-type": ctype},
    )


def test_judge_exchange_success_overload_and_errors() -> None:
    page = {"limit": 20, "has_more": False, "data": []}
    assert judge.judge_exchange("listConversations", exchange(200, page)) is None
    overload = {"code": "too_many_requests", "message": "slow down", "status": 429}
    assert judge.judge_exchange("listConversations", exchange(429, overload)) is None
    assert judge.judge_exchange("listConversations", exchange(500, {**overload, "status": 500}))["check"] == (
        judge.RESPONSES
    )
    bad = judge.judge_exchange("listConversations", exchange(200, {"data": "nope"}))
    assert bad is not None and "does not match the contract" in bad["message"]


def stream(raw: bytes, end: str = "closed") -> StreamResult:
    ex = Exchange(
        "POST", "http://127.0.0.1/v1/chat-messages", status=200, headers={"content-type": "text/event-stream"}
    )
    return StreamResult(exchange=ex, events=parse(raw), raw=raw, end_reason=end)


GOLDEN = (ROOT / "fixtures" / "streams" / "die-hard.chat.sse").read_bytes()  # a correct stream of today's API
FRAMES = [f + b"\n\n" for f in GOLDEN.split(b"\n\n") if f.strip()]
PIECE = json.loads(FRAMES[0].split(b"data: ", 1)[1])
END = json.loads(FRAMES[-1].split(b"data: ", 1)[1])


def frame(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def test_judge_stream_terminal_event_and_event_schema() -> None:
    assert PIECE["event"] == "message" and END["event"] == "message_end"
    assert judge.judge_stream(stream(GOLDEN)) is None
    assert judge.judge_stream(stream(frame(PIECE) + b"event: ping\n\n" + frame(END))) is None
    cut = judge.judge_stream(stream(frame(PIECE) * 3))
    assert cut is not None and "without a terminal event" in cut["message"]
    bad = judge.judge_stream(stream(frame({**PIECE, "id": "not-a-uuid"}) + frame(END)))
    assert bad is not None and "event 0" in bad["message"]
    stalled = judge.judge_stream(stream(frame(PIECE) + frame(END), end="stalled: no bytes for 5.0 s"))
    assert stalled is not None and "did not end properly" in stalled["message"]


FIGURES = {
    "total": {"p50": 40, "p95": 300, "p99": 900, "avg": 80, "max": 950, "error_rate": 0.5, "rps": 30.0},
    "operations": [{"name": "listMessages", "p99": 120, "error_rate": 0.0, "rps": 2.0}],
    "streams": {
        "ttft": {"p50": 300, "p95": 700, "p99": 800},
        "token_interval": {"p50": 30, "p95": 40, "p99": 90},
        "duration": {"p50": 3000, "p95": 4000, "p99": 4100, "max": 4200},
    },
}


@pytest.mark.parametrize(
    ("rule", "breached"),
    [
        ("p99>500ms", True),
        ("p99>1s", False),
        ("error_rate>1%", False),
        ("error_rate>=0.5%", True),
        ("rps<50", True),
        ("listMessages:p99>100ms", True),
        ("listMessages:p99>0.2s", False),
        ("ttft_p95>600ms", True),
        ("token_interval_p99>100ms", False),
        ("stream_p99>4s", True),
        ("nosuch:p99>1ms", False),
    ],
)
def test_thresholds(rule: str, breached: bool) -> None:
    [verdict] = judge_thresholds([parse_threshold(rule)], FIGURES)
    assert (verdict["verdict"] == "breached") is breached, verdict["message"]
    assert verdict["verdict"] in ("ok", "breached", "no data")  # a rule that did not trip is "ok"


def test_threshold_on_an_operation_that_never_ran_says_no_data_with_the_names() -> None:
    [verdict] = judge_thresholds([parse_threshold("listMesages:p99>1s")], FIGURES)
    assert verdict["verdict"] == "no data" and "(operations: listMessages)" in verdict["message"]


def test_one_exact_percentile_method_never_above_the_max() -> None:
    """Nearest rank: a percentile is a time some request took (Locust's rounded buckets printed
    `p99 4000` beside `max 4025`)."""
    assert percentile(list(range(1, 101)), 0.99) == 99 and percentile(list(range(1, 101)), 0.5) == 50
    assert percentile([4025.0, 3998.7, 12.5], 0.99) == 4025.0  # the largest of three: no rounding
    assert percentile([8.5] + [1.0] * 99, 0.99) == 1.0 and percentile([8.5] + [1.0] * 99, 0.995) == 8.5
    assert percentile([], 0.5) is None
    values = [0.3 * i * i % 977 for i in range(1, 5000)]
    summary = timing_summary(values)
    assert summary["p50"] <= summary["p95"] <= summary["p99"] <= summary["max"] == max(values)
    assert summary["p99"] in values


def test_series_over_time_in_buckets() -> None:
    requests = [{"at": 100.0 + t, "ms": 10.0 * (t + 1), "failed": t == 3} for t in range(8)]
    s = series(requests, [(100.0, 0), (101.5, 5), (105.0, 5), (107.9, 2)], started=100.0, duration=8.0)
    assert s["bucket_s"] == 1 and [p["t"] for p in s["points"]] == list(range(1, 9))
    assert [p["rps"] for p in s["points"]] == [1.0] * 8
    assert [p["errors_per_s"] for p in s["points"]] == [0, 0, 0, 1, 0, 0, 0, 0]
    assert [p["users"] for p in s["points"]] == [0, 5, 5, 5, 5, 5, 5, 2]
    assert s["points"][0]["p99"] == 10.0


@pytest.mark.parametrize("rule", ["p99", "p99>>1", "p42>1ms", "error_rate>1ms", "p99>fast"])
def test_bad_thresholds_are_refused(rule: str) -> None:
    with pytest.raises(ValueError, match="--fail-on"):
        parse_threshold(rule)


def test_a_load_cause_is_titled_by_its_rule_not_by_one_instance() -> None:
    obs = acks(A, C1, "m1", "m2", "m3") + acks(B, C2, "n1", "n2")
    finals = [Final(A, listed=[C1], histories={C1: ["m1"]}), Final(B, listed=[C2], histories={C2: ["n2"]})]
    records = invariants.records(invariants.judge_run(obs, finals, requests=10))
    [cause] = Results(records).causes()
    assert cause.title == invariants.DEFECTS[invariants.ACKED]
    assert "m2" not in cause.title and "m2 is missing" in cause.failed[0].message  # the instance: below
