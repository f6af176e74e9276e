"""One vendor bug, one finding: root-cause grouping, blocked checks and hangs, measured on whole runs.

Each run is the real suite (a separate process) against a gallery variant with exactly one defect;
the results document must hold exactly one cause, listing every check it explains.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conformance.http import FIRST_FRAMES, FRAME_CHARS, LAST_FRAMES, body_excerpt
from conformance.results import Record, Results
from tests.conformance.gallery import BROKEN
from tests.conformance.gallery.helpers import App
from tests.conformance.harness import mock_app, run_suite, serve
from tests.conformance.rewrite import wrap

CHAT_APP_AREAS = "auth,chat,streaming,history,conversations,feedback,lifecycle,isolation,parameters"


def hung_history(app: App) -> App:
    """GET /messages never answers within the read timeout (2 s in the harness)."""

    def hang(env: Any) -> None:
        time.sleep(5)

    return wrap(app, path=r"/v1/messages$", method="GET", intercept=hang)


def _variant(name: str) -> App:
    return next(v.make for v in BROKEN if v.name == name)


RUNS = {
    "cursor_ignored": (_variant("cursor_ignored"), CHAT_APP_AREAS),
    "usage_total_missing": (_variant("usage_total_missing"), CHAT_APP_AREAS),
    "hung_history": (hung_history, CHAT_APP_AREAS),
}


@pytest.fixture(scope="module")
def runs() -> dict[str, dict[str, Any]]:
    def one(name: str) -> dict[str, Any]:
        make, areas = RUNS[name]
        started = time.monotonic()
        with serve(make(mock_app())) as root:
            doc = run_suite(root, areas, timeout=300)
        doc["seconds"] = time.monotonic() - started
        return doc

    with ThreadPoolExecutor(len(RUNS)) as pool:
        return dict(zip(RUNS, pool.map(one, RUNS), strict=True))


def _names(doc: dict[str, Any], outcome: str) -> set[str]:
    return {
        f"{r['check']}[{r['subject']}]" if r["subject"] else r["check"]
        for r in doc["results"]
        if r["outcome"] == outcome
    }


def _one_cause(doc: dict[str, Any]) -> dict[str, Any]:
    assert doc["results"], doc["output"]
    titles = [c["title"] for c in doc["causes"]]
    assert len(doc["causes"]) == 1, f"one defect, {len(titles)} cause headings: {titles}"
    cause = doc["causes"][0]
    assert set(cause["failed"]) == _names(doc, "failed")
    assert set(cause["blocked"]) == _names(doc, "blocked")
    assert cause["evidence"], "the cause carries its evidence"
    return cause


def test_an_ignored_cursor_is_one_cause_listing_every_check_it_breaks(
    runs: dict[str, dict[str, Any]],
) -> None:
    doc = runs["cursor_ignored"]
    cause = _one_cause(doc)
    assert "first_id" in cause["title"] and "ignored" in cause["title"]
    explained = {name.split("[")[0] for name in cause["failed"]}
    assert {"history.no_duplicates", "history.complete", "history.unknown_first_id"} <= explained
    assert doc["exit_code"] == 1


def test_a_missing_usage_field_is_one_failure_and_blocks_nothing(runs: dict[str, dict[str, Any]]) -> None:
    """Prerequisites need only the fields they use: the schema detail fails its own check, once."""
    doc = runs["usage_total_missing"]
    cause = _one_cause(doc)
    assert "metadata.usage.total_tokens" in cause["title"]
    assert "chat.blocking_shape" in cause["failed"]
    assert not _names(doc, "blocked"), "no check may be blocked by a field it does not use"
    assert not [r for r in doc["results"] if r["message"].startswith("while preparing")]
    assert len(_names(doc, "passed")) > 100


def test_a_hung_operation_is_waited_for_once_and_blocks_the_rest(runs: dict[str, dict[str, Any]]) -> None:
    doc = runs["hung_history"]
    cause = _one_cause(doc)
    assert "GET /messages hangs" in cause["title"]
    assert len(cause["failed"]) == 1, cause  # the first check to meet the hang reports it
    assert len(cause["blocked"]) >= 20, cause
    blocked = [r for r in doc["results"] if r["outcome"] == "blocked"]
    assert all(r["blocked_by"] == cause["failed"][0] for r in blocked)
    probes = [r for r in blocked if r["message"].startswith("no answer within the 1 s probe after")]
    assert len(probes) == 1, [r["message"] for r in blocked]  # one short probe confirms the hang ...
    unsent = [r for r in blocked if r["message"].startswith("not sent: GET /messages hangs")]
    assert len(unsent) == len(blocked) - 1  # ... and nothing more is sent to it
    # the later checks cost no timeout each: far less than one 2 s read timeout per blocked check
    assert sum(r["duration"] for r in blocked) < 5, sum(r["duration"] for r in blocked)


def test_stream_evidence_shows_the_first_and_the_last_frames_bounded() -> None:
    frames = [b'data: {"event": "message", "answer": "piece %d"}' % i for i in range(500)]
    frames.append(b'data: {"event": "message", "answer": "' + b"x" * 5000 + b'"}')
    shown = body_excerpt(b"\n\n".join(frames) + b"\n\n")
    assert "piece 0" in shown and "piece 1" in shown  # the first frames
    assert "piece 499" in shown and "of 5040 chars not shown" in shown  # ... and the last (the defect)
    assert shown.rstrip().endswith("xxx\"}'")  # a long frame keeps its end: cut in the middle
    assert "frame(s) not shown" in shown and "piece 250" not in shown
    assert len(shown) < (FIRST_FRAMES + LAST_FRAMES) * (FRAME_CHARS + 40) + 100


def test_grouping_falls_back_to_shared_evidence_then_to_the_check() -> None:
    def rec(check: str, outcome: str = "failed", **kw: Any) -> Record:
        return Record(check, check.split(".")[0], "t", "MUST", outcome, **kw)

    results = Results(
        [
            rec("a.one", cause="K", cause_title="the K defect", evidence=["E"]),
            rec("a.two", evidence=["E"]),  # no key of its own: the same exchange joins K
            rec("a.three", "blocked", cause="K", cause_title="the K defect"),
            rec("b.x", subject="1", message="m1"),
            rec("b.x", subject="2", message="m2"),  # no key, other evidence: its check's group
            rec("c.y", "passed"),
        ]
    )
    groups = results.causes()
    assert [(g.title, g.size) for g in groups] == [("the K defect", 3), ("b.x: m1", 2)]
    assert results.records[2].blocked_by == "a.one"
    assert results.score(results.by_area()["a"]) == 0.0  # blocked MUST checks are not proven
    md = results.markdown()
    assert "### Cause 1: the K defect: 3 checks (2 failed, 1 blocked)" in md
    assert "blocked by this cause (1, not judged): `a.three`" in md
