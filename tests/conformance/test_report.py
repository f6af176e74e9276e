"""The report itself (conformance.results): score, sections, code fences, contract lines, shared evidence."""

from __future__ import annotations

import json
import re

from conformance import htmlreport, http
from conformance.results import KEPT, Record, Results

STREAM_EVIDENCE = (
    'request: POST http://x/v1/chat-messages {"query": "<message>hi</message>"}\n'
    "  answer: 200 text/event-stream; 1 events, ended: stalled: no bytes for 2.0 s\n"
    '  body: \'data: {"event": "message", "answer": "<b>x</b>"}\\n\\n\''
)


def _stream_failures() -> Results:
    """One stalled stream failing three checks (same evidence), plus one unrelated failure and a skip."""
    records = [
        Record(
            f"streaming.{name}",
            "streaming",
            f"title of {name}",
            "MUST",
            "failed",
            message="the stream did not end properly: stalled",
            expected=f"rule of {name}",
            evidence=[STREAM_EVIDENCE],
        )
        for name in ("ends", "events_valid", "one_message")
    ]
    records.append(
        Record("chat.shape", "chat", "t", "MUST", "failed", expected="rule", evidence=["request: GET /x"])
    )
    records.append(Record("audio.fixture", "audio", "t", "MUST", "skipped", message="no fixture here"))
    return Results(records)


def test_score_counts_only_must_checks_and_says_n_a_when_nothing_was_judged() -> None:
    results = Results(
        [
            Record("a.warn", "a", "t", "SHOULD", "warning", message="meh"),
            Record("b.pass", "b", "t", "MUST", "passed"),
            Record("b.should", "b", "t", "SHOULD", "passed"),
            Record("b.warn", "b", "t", "SHOULD", "warning"),
            Record("b.fail", "b", "t", "MUST", "failed"),
            Record("c.skip", "c", "t", "MUST", "skipped"),
        ]
    )
    areas = results.by_area()
    assert results.score(areas["a"]) is None  # a warning alone is not a judged MUST check (was "100%")
    assert results.score(areas["b"]) == 0.5  # 1 passed MUST / (1 passed + 1 failed MUST)
    assert results.score(areas["c"]) is None
    md = results.markdown()
    assert "| a | n/a | 0 | 0 | 1 | 0 |" in md
    assert "| b | 50% | 2 | 1 | 1 | 0 |" in md
    assert "| c | n/a | 0 | 0 | 0 | 1 |" in md
    lines = results.summary_lines()
    assert [line.split()[0] for line in lines] == ["b", "a", "c"]  # a failure first, then a warning
    assert "score   n/a" in lines[1] and "warnings   1" in lines[1]
    assert "<td>a</td><td>n/a</td>" in results.html()


def test_html_report_lists_skips_with_reasons() -> None:
    page = _stream_failures().html()
    assert "<h2>Skipped: 1</h2>" in page
    assert "<code>audio.fixture</code>: no fixture here" in page


def test_markdown_evidence_is_fenced_and_every_failure_has_a_contract_line() -> None:
    md = _stream_failures().markdown()
    failures = md.split("## Failures (MUST)")[1].split("## Warnings")[0]
    entries = [e for e in failures.split("\n- ") if e.startswith("**`")]
    assert len(entries) == 4
    assert all("\n  - contract: " in e for e in entries)
    # the evidence (with its <message> tag) sits inside a code fence, never as raw Markdown/HTML
    fenced = re.findall(r"^    ```\n(.*?)^    ```$", md, re.S | re.M)
    assert any("<message>hi</message>" in block for block in fenced)
    outside = re.sub(r"^    ```\n.*?^    ```$", "", md, flags=re.S | re.M)
    assert "<message>" not in outside and "<b>" not in outside


def test_fence_outgrows_backticks_in_the_evidence() -> None:
    results = Results([Record("a.x", "a", "t", "MUST", "failed", expected="r", evidence=["```` oops"])])
    assert "    `````" in results.markdown()


def test_evidence_shared_by_several_failures_is_shown_once_and_referenced() -> None:
    results = _stream_failures()
    md = results.markdown()
    assert md.count("stalled: no bytes for 2.0 s") == 1
    assert "evidence E1:" in md
    assert md.count("evidence E1: the same exchange as shown above under `streaming.ends`") == 2
    assert "request: GET /x" in md and "evidence E2" not in md  # unshared evidence is shown plainly
    page = results.html()
    assert len(re.findall(r"<pre>[^<]*stalled: no bytes for 2.0 s", page)) == 1  # the raw exchange, once
    assert page.count('href="#E1"') == 2 and 'id="E1"' in page
    # each check keeps its own verdict and its full evidence in the JSON
    doc = results.to_json()
    assert [r["evidence"] == [STREAM_EVIDENCE] for r in doc["results"][:3]] == [True] * 3


def test_a_run_that_could_not_start_says_so() -> None:
    results = Results(meta={"could not start": "the API key was refused (401 ...)"})
    assert "**could not start**: the API key was refused" in results.markdown()
    assert "Score per area" not in results.markdown()
    assert "the API key was refused" in results.html()


def _failing_areas() -> Results:
    """Area `big`: 19 passed MUST checks and one failed (95%); `known`: a failure the baseline knows;
    `calm`: all passed; three causes of sizes 3, 2 and 1."""
    records = [Record("big.ok", "big", "t", "MUST", "passed", subject=str(i)) for i in range(19)]
    records += [Record("big.bad", "big", "t", "MUST", "failed", cause="A", cause_title="defect A")]
    records += [
        Record("calm.x", "calm", "t", "MUST", "passed"),
        Record("known.y", "known", "t", "MUST", "failed", cause="K", cause_title="defect K", known="later"),
        Record("known.z", "known", "t", "MUST", "passed"),
    ]
    records += [
        Record(f"big.c{i}", "big", "t", "MUST", "failed", cause="C", cause_title="defect C") for i in range(3)
    ]
    return Results(records, meta={"base URL": "http://x/v1", "era": "current", "kit version": "9.9"})


def test_areas_with_a_failure_come_first_and_are_red_whatever_their_score() -> None:
    results = _failing_areas()
    order = [area for area, _ in results.areas_failures_first()]
    assert order == ["big", "known", "calm"]
    tones = {area: results.tone(c) for area, c in results.areas_failures_first()}
    assert tones == {"big": "lo", "known": "mid", "calm": "hi"}  # 83% with failures: red, not amber
    page = results.html()
    assert re.search(r'<tr data-area="big">.*?class="bar lo"', page)
    assert page.index('data-area="big"') < page.index('data-area="known"') < page.index('data-area="calm"')


def test_the_verdict_names_the_causes_and_the_failures_come_before_the_identity() -> None:
    results = _failing_areas()
    page = results.html()
    banner = page[page.index("<header") : page.index("</header>")]
    assert re.findall(r'<a href="#cause-(\d)">([^<]*)</a>', banner) == [("1", "defect C"), ("2", "defect A")]
    assert 'id="cause-1"' in page and "defect K" not in banner  # a known cause does not make the verdict
    assert page.index('data-cause="1"') < page.index("Score per area") < page.index('id="identity"')
    md = results.markdown()
    assert md.index("1. defect C: 3 checks") < md.index("## Failures (MUST)") < md.index("## Score per area")
    assert md.index("## Score per area") < md.index("## Server and contract")
    assert "http://x/v1 · era current · chat-contract-kit 9.9" in md


HISTORY = "http://x/v1/messages?conversation_id=797511f0-8c5a-4f4e-9a40-0123456789ab&user=conformance-2026120712-ab12cd-history"


def test_evidence_summaries_keep_what_tells_two_requests_apart() -> None:
    """The cut falls in the middle of long values, so `limit` and `first_id` after a long conversation
    id stay visible and two different requests never read the same."""
    page = '{"limit": 1, "has_more": true, "data": [{"id": "m1"}]}'
    first = f"request: GET {HISTORY}&limit=1\n  answer: 200 application/json {page}"
    cursor = "first_id=5f1c2e3d-aaaa-bbbb-cccc-0123456789ab"
    after = f"request: GET {HISTORY}&limit=1&{cursor}\n  answer: 200 application/json {page}"
    shown = [htmlreport._summary(e) for e in (first, after)]
    assert shown[0] != shown[1]
    assert "limit=1" in shown[0] and "first_id=5f1c2e3d" in shown[1] and "-history" in shown[0]
    assert shown[0].endswith("-> 200 application/json {limit: 1, has_more: true, data: [1]}")
    assert len(shown[1]) < 200
    assert htmlreport._summary('request: POST http://x/v1/chat-messages {"query": "hi", "user": "u"}\n'
                               "  answer: 404 application/json {\"code\": \"not_found\"}") == (
        'POST /v1/chat-messages {query: "hi", user: "u"} -> 404 application/json {code: "not_found"}'
    )  # fmt: skip


def test_bodies_are_whole_up_to_a_few_kb_and_cut_in_the_middle_beyond() -> None:
    items = [{"id": f"message-{i:04d}", "answer": "x" * 20} for i in range(60)]
    body = json.dumps({"limit": 60, "has_more": False, "data": items})
    assert 2000 < len(body) < http.BODY_SHOWN
    ex = http.Exchange("GET", HISTORY, status=200, headers={"content-type": "application/json"}, text=body)
    assert body in ex.evidence()  # whole: the page can be read, and replayed against
    huge = http.Exchange("GET", HISTORY, status=200, text=body * 4, request_body={"q": "y" * 5000})
    shown = huge.evidence()
    assert body[:100] in shown and shown.endswith(body[-200:])  # its head and its end (the last item)
    assert f"of {len(body) * 4} chars not shown" in shown
    assert htmlreport.curl_line(shown.splitlines()[0]) == ""  # a request body cut short cannot be replayed


def test_the_report_says_whether_the_evidence_replays() -> None:
    removed = _failing_areas()
    assert "run with --keep" in removed.replay_note() and "run with --keep" in removed.html()
    kept = _failing_areas()
    kept.meta[KEPT] = "4 conversation(s) of the users conformance-1-*, 0 annotation(s)"
    assert "replay against the same data" in kept.html() and "replay against the same data" in kept.markdown()
