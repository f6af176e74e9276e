"""Adopting the suite before the server is green: --baseline, --write-baseline, --compare, --report xN.

Whole runs of the real CLI against the mock and a gallery variant with one bug (an ignored cursor).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conformance import baseline
from conformance.baseline import PLACEHOLDER
from conformance.cli import build_parser, pytest_args
from conformance.results import Record
from tests.conformance.gallery import BROKEN
from tests.conformance.harness import mock_app, run_suite, serve

CURSOR_IGNORED = next(v for v in BROKEN if v.name == "cursor_ignored")


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    with serve(CURSOR_IGNORED.make(mock_app())) as root:
        yield root


@pytest.fixture(scope="module")
def correct() -> Iterator[str]:
    with serve(mock_app()) as root:
        yield root


@pytest.fixture(scope="module")
def first(broken: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The broken server's run: every report format at once, and its failures written as a baseline."""
    tmp = tmp_path_factory.mktemp("first")
    reports = [str(tmp / f"report.{ext}") for ext in ("json", "md", "html")]
    args = [a for path in reports for a in ("--report", path)]
    doc = run_suite(broken, "history", *args, "--write-baseline", str(tmp / "baseline.yaml"))
    return doc, tmp


def test_every_report_given_is_written(first: tuple[dict, Path]) -> None:
    doc, tmp = first
    assert doc["exit_code"] == 1
    report = json.loads((tmp / "report.json").read_text())
    assert report["verdict"].startswith("FAIL") and report["results"] == doc["results"]
    assert "## Failures (MUST)" in (tmp / "report.md").read_text()
    assert (tmp / "report.html").read_text().lower().startswith("<!doctype html")


def test_cli_passes_every_report_to_the_plugin() -> None:
    ns = build_parser().parse_args(
        ["--base-url", "u", "--api-key", "k", "--report", "a.md", "--report", "b.json"]
    )
    args = pytest_args(ns, [])
    assert [args[i + 1] for i, a in enumerate(args) if a == "--report"] == ["a.md", "b.json"]


def explained(tmp: Path) -> Path:
    """The written baseline with each placeholder reason replaced by one, as its reader is asked to."""
    text = (tmp / "baseline.yaml").read_text().replace(PLACEHOLDER, "paging lands in 2.4 (TICKET-1)")
    (tmp / "explained.yaml").write_text(text)
    return tmp / "explained.yaml"


def test_the_written_baseline_has_one_entry_per_cause_and_its_placeholder_is_refused(
    broken: str, first: tuple[dict, Path]
) -> None:
    doc, tmp = first
    written = yaml.safe_load((tmp / "baseline.yaml").read_text())["known_failures"]
    assert [e["cause"] for e in written] == [c["key"] for c in doc["causes"]]  # one bug, one entry
    assert len(written) == 1 and len(written[0]["checks"]) == 16
    assert all(e["reason"] == PLACEHOLDER for e in written)
    refused = run_suite(broken, "history", "--baseline", str(tmp / "baseline.yaml"))
    assert refused["exit_code"] == 2
    assert "still has the reason --write-baseline put there" in refused["output"]
    assert len(refused["output"].strip().splitlines()) == 1, refused["output"]


def test_a_baseline_of_the_known_failures_makes_the_run_pass(broken: str, first: tuple[dict, Path]) -> None:
    doc, tmp = first
    failed = {f"{r['check']}[{r['subject']}]" if r["subject"] else r["check"] for r in doc["results"]
              if r["outcome"] == "failed"}  # fmt: skip
    junit = tmp / "known.xml"
    again = run_suite(broken, "history", "--baseline", str(explained(tmp)), "--junitxml", str(junit))
    assert again["exit_code"] == 0, again["output"]
    assert again["verdict"].startswith("PASS (baseline)")
    assert set(again["baseline"]["new"]) == set() and len(again["baseline"]["known"]) == len(failed)
    [entry] = again["baseline"]["known_entries"]
    assert entry["reason"] == "paging lands in 2.4 (TICKET-1)" and len(entry["checks"]) == len(failed)
    known = [r for r in again["results"] if r["outcome"] == "failed"]
    assert known and all(r["known"] for r in known)  # still reported, with the baseline's reason
    xml = junit.read_text()  # CI dashboards agree with the exit status: known failures are xfails
    assert "<failure" not in xml and xml.count('type="pytest.xfail"') == len(failed)
    assert "known failure (baseline): paging lands in 2.4 (TICKET-1)" in xml
    said = "baseline: 1 known (their 16 checks do not fail the run), 0 failing check(s) not in the baseline"
    assert said in again["output"]


def test_a_cause_is_known_on_the_operations_it_was_seen_on_only() -> None:
    """The same wrong status on another operation is another door: news, not the known defect."""
    entry = baseline.Entry(
        reason="r", cause="status 500 for 200", operations=("GET /conversations/{conversation_id}/variables",)
    )

    def failure(where: str) -> Record:
        return Record("x.y", "x", "t", "MUST", "failed", cause="status 500 for 200", cause_where=where)

    assert entry.matches(failure("GET /conversations/{conversation_id}/variables"))
    assert not entry.matches(failure("GET /messages"))
    assert baseline.Entry(reason="r", cause="status 500 for 200").matches(failure("GET /messages"))


def test_a_failure_missing_from_the_baseline_is_new_and_fails_the_run(broken: str, tmp_path: Path) -> None:
    baseline = tmp_path / "baseline.json"  # JSON is accepted too; an entry without subject: all subjects
    entries = [{"check": c, "reason": "paging lands in 2.4"} for c in (
        "history.no_duplicates", "history.complete", "history.order", "history.has_more", "history.page_size"
    )]  # fmt: skip
    baseline.write_text(json.dumps({"known_failures": entries}))
    doc = run_suite(broken, "history", "--baseline", str(baseline))
    assert doc["exit_code"] == 1
    assert doc["baseline"]["new"] == ["history.unknown_first_id"]
    assert "paging lands in 2.4" in {r["known"] for r in doc["results"]}


def test_fixed_entries_are_listed_and_compare_shows_what_changed(
    correct: str, first: tuple[dict, Path], tmp_path: Path
) -> None:
    _, tmp = first
    report = tmp_path / "now.md"
    doc = run_suite(
        correct, "history", "--baseline", str(explained(tmp)), "--compare", str(tmp / "report.json"),
        "--report", str(report),
    )  # fmt: skip
    assert doc["exit_code"] == 0
    assert len(doc["baseline"]["fixed"]) == 1 and not doc["baseline"]["known"]  # the one cause
    comparison = doc["comparison"]
    assert "history.unknown_first_id" in comparison["fixed"] and comparison["new_failures"] == []
    [score] = comparison["scores"]
    assert score["area"] == "history" and score["before"] < 1 and score["now"] == 1
    text = report.read_text()
    assert "fixed (remove it from the baseline): `listMessages: `first_id` is ignored" in text
    assert "newly failing since the previous run (0)" in text and "fixed since the previous run (16)" in text
    assert "score of history:" in text and "-> 100%" in text


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("known_failures: [{check: history.order}]", "has no `reason`"),
        ("known_failures: {check: x}", "wanted a list"),
        ("[{reason: r}]", "has no `cause` (a cause key) and no `check`"),
        ("{: [", "not YAML or JSON"),
    ],
)
def test_an_unusable_baseline_is_a_usage_error(correct: str, tmp_path: Path, content: str, why: str) -> None:
    path = tmp_path / "baseline.yaml"
    path.write_text(content)
    doc = run_suite(correct, "history", "--baseline", str(path))
    assert doc["exit_code"] == 2 and why in doc["output"], doc["output"]


def test_an_unreadable_previous_report_is_a_usage_error(correct: str, tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text("{}")
    doc = run_suite(correct, "history", "--compare", str(tmp_path / "old.json"))
    assert doc["exit_code"] == 2 and "no `results` list" in doc["output"]
