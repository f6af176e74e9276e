"""The suite's transport bounds against hostile servers: wall-clock deadlines, body caps, cut bodies.

Each server is a few lines on a loopback port (tests/conformance/hostile.py). Times and memory are
asserted loosely (under 2x the configured bound) because the machine is shared.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable

import pytest

from conformance.bounds import Budget, BudgetSpent
from conformance.checking import CheckFailed, expect_status
from conformance.http import Client, Exchange, StreamResult
from tests.conformance import hostile

DEADLINE = 2.0  # the exchange's wall-clock deadline in these tests (--stream-timeout)
READ_TIMEOUT = 3.0  # longer than every drip interval: only the deadline can end these exchanges


def _client(url: str, **kwargs: object) -> Client:
    return Client(url + "/v1", "k", timeout=READ_TIMEOUT, stream_timeout=DEADLINE, **kwargs)  # type: ignore[arg-type]


def _timed(server: hostile.Handler, do: Callable[[Client], Exchange | StreamResult], **kw: object):
    with hostile.hostile_server(server) as url:
        client = _client(url, **kw)
        tracemalloc.start()
        start = time.monotonic()
        try:
            got = do(client)
        finally:
            elapsed = time.monotonic() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return got, elapsed, peak


def _get(client: Client) -> Exchange:
    return client.call("GET", "/parameters")


def _stream(client: Client) -> StreamResult:
    return client.stream("POST", "/chat-messages", json_body={"query": "hi"})


@pytest.mark.parametrize(
    ("server", "phase"),
    [(hostile.drip_status_line, "the status line and headers had not arrived"), (hostile.never_answers, "")],
)
def test_a_request_whose_answer_never_completes_ends_at_its_deadline(
    server: hostile.Handler, phase: str
) -> None:
    ex, elapsed, _ = _timed(server, _get)
    assert elapsed < 2 * DEADLINE
    assert ex.status is None and f"no answer within {DEADLINE:g} s (wall-clock deadline)" in str(ex.error)
    assert phase in str(ex.error)


def test_a_dripping_body_ends_at_the_deadline() -> None:
    ex, elapsed, _ = _timed(hostile.drip_body, _get)
    assert elapsed < 2 * DEADLINE
    assert ex.status is None and ex.partial_status == 200
    assert "no complete answer within 2 s" in str(
        ex.error
    ) and "of 1000 bytes of the body had arrived" in str(ex.error)
    with pytest.raises(CheckFailed, match="no complete answer: no complete answer within 2 s"):
        expect_status(ex, 200)


def test_an_endless_sse_stream_ends_at_the_deadline() -> None:
    s, elapsed, _ = _timed(hostile.endless_sse, _stream)
    assert elapsed < 2 * DEADLINE
    assert s.end_reason == f"total timeout: still open after {DEADLINE:.1f} s" and s.events


def test_a_non_sse_answer_to_a_stream_request_is_bounded_too() -> None:
    s, elapsed, _ = _timed(hostile.drip_body, _stream)
    assert elapsed < 2 * DEADLINE
    assert s.end_reason.startswith("total timeout") and s.exchange.status is None


@pytest.mark.parametrize("server", [hostile.huge_body, hostile.huge_chunked_body])
@pytest.mark.parametrize("how", [_get, _stream])
def test_a_2_gb_body_is_cut_at_the_cap_and_reported(server: hostile.Handler, how: Callable) -> None:
    got, elapsed, peak = _timed(server, how, max_body_mb=1)
    ex = got if isinstance(got, Exchange) else got.exchange
    assert ex.status is None and ex.partial_status == 200
    assert "exceeded 1 MB (reading stopped there)" in str(ex.error)
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes for a 1 MB cap"  # one bounded copy, not 2 GB
    # the rest of the body was never read: the cap, not the deadline, ended it (the error says so);
    # the 1 MB read itself runs under tracemalloc, so on a loaded machine it may take a while
    assert elapsed < 2 * DEADLINE


@pytest.mark.parametrize(
    ("server", "finding"),
    [
        (hostile.cut_body, "the body was cut after 10 of 100 bytes (connection closed)"),
        (
            hostile.cut_chunked_body,
            "the body was cut after 10 bytes: the connection closed before the chunked body's last chunk",
        ),
    ],
)
def test_a_body_cut_mid_way_is_reported_as_cut_not_as_bad_json(server: hostile.Handler, finding: str) -> None:
    ex, _, _ = _timed(server, _get)
    assert ex.status is None and ex.error == finding
    assert finding in ex.answer_line() and "not JSON" not in ex.evidence()
    s, _, _ = _timed(server, _stream)
    assert s.end_reason == "broken: " + finding


def test_redirects_forever_are_no_answer() -> None:
    ex, elapsed, _ = _timed(hostile.redirect_forever, _get)
    assert ex.status is None and elapsed < 2 * DEADLINE
    assert "Exceeded 30 redirects" in str(ex.error) or "wall-clock deadline" in str(ex.error)


def test_the_run_budget_caps_every_deadline_and_then_refuses_new_work() -> None:
    budget = Budget(max_time=1.0)
    with hostile.hostile_server(hostile.never_answers) as url:
        client = _client(url, budget=budget)
        start = time.monotonic()
        with pytest.raises(BudgetSpent, match=r"--max-time 1 s"):
            client.call("GET", "/parameters")  # its own deadline (2 s) is later than the budget's end
        assert time.monotonic() - start < 2 * 1.0
        with pytest.raises(BudgetSpent):
            client.stream("POST", "/chat-messages", json_body={})
        budget.allow_cleanup(5.0)  # cleanup gets a grace period
        assert "no answer within" in str(client.call("DELETE", "/conversations/x").error)


def test_silence_halts_the_run_after_three_unanswered_exchanges_on_two_operations() -> None:
    from conformance.bounds import Silence

    budget = Budget(max_time=900.0)
    silence = budget.silence = Silence(budget)
    fuzzing = Budget(max_time=60.0, within=budget)
    for _ in range(5):  # one operation that hangs is a finding of its own, not a dead server
        silence.no_answer("GET /parameters", "stalled")
    silence.answered()
    silence.no_answer("GET /parameters", "stalled")
    silence.no_answer("POST /chat-messages", "stalled")
    assert not budget.spent() and not fuzzing.spent()
    silence.answered()  # an answer in time starts the count again
    silence.no_answer("GET /parameters", "stalled")
    silence.no_answer("POST /chat-messages", "stalled")
    assert not budget.spent()
    silence.no_answer("GET /messages", "stalled")
    assert budget.spent() and fuzzing.spent()  # fuzzing stops with the run
    assert budget.why().startswith("the server does not answer: 3 exchanges in a row")
    assert fuzzing.halt_reason() == budget.why() and "GET /messages (stalled)" in budget.why()


def test_exchanges_that_hit_their_deadline_are_counted_as_silence() -> None:
    from conformance.bounds import Silence

    budget = Budget(max_time=900.0)
    budget.silence = Silence(budget)
    with hostile.hostile_server(hostile.drip_body) as url:
        client = _client(url, budget=budget)
        client.call("GET", "/parameters")
        client.call("GET", "/conversations")
        assert not budget.spent()
        client.stream("POST", "/chat-messages", json_body={})
    assert budget.spent() and "the server does not answer" in budget.why()
    with pytest.raises(BudgetSpent, match="the server does not answer"):
        client.call("GET", "/parameters")
