"""The report itself (conformance.results): score, sections, code fences, contract lines, shared evidence."""

from __future__ import annotations

import re

from conformance.results import Record, Results

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
    assert "score   n/a" in lines[0] and "warnings   1" in lines[0]
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
    assert page.count("stalled: no bytes for 2.0 s") == 1
    assert page.count('href="#E1"') == 2 and 'id="E1"' in page
    # each check keeps its own verdict and its full evidence in the JSON
    doc = results.to_json()
    assert [r["evidence"] == [STREAM_EVIDENCE] for r in doc["results"][:3]] == [True] * 3


def test_a_run_that_could_not_start_says_so() -> None:
    results = Results(meta={"could not start": "the API key was refused (401 ...)"})
    assert "**could not start**: the API key was refused" in results.markdown()
    assert "Score per area" not in results.markdown()
    assert "the API key was refused" in results.html()
