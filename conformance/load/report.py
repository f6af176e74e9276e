"""The load report: throughput, latency, stream timings, errors over time, the invariants, the thresholds.

Every figure comes from the requests the users timed (observations of kind `request`), by one method:
the exact nearest-rank percentile over every value (so a p99 is a time some request took, never above
the max). Latency is what a user waits for: the whole answer, and for a stream the time to its first
token (the whole stream is shown apart, with the token interval). The findings are
`conformance.results.Record`s rendered by the suite's own report (HTML, Markdown, JSON, evidence
shown once); `--fail-on` thresholds are not checks: they are shown ok / breached apart from the
invariants, and a breached one fails the run.
"""

from __future__ import annotations

import html
import json
import math
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.load.charts import line_chart
from conformance.results import Record, Results

PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
METHOD = "exact nearest-rank percentiles over every request (a p99 is a time some request took)"
LATENCY = "latency: the whole answer; for a stream, the time to its first token (the whole stream below)"
THRESHOLD = re.compile(
    r"^\s*(?:(?P<op>[^:<>=]+):)?\s*(?P<metric>[a-z_0-9]+)\s*(?P<cmp>>=|<=|>|<)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>ms|s|%)?\s*$"
)
METRICS = (
    "p50, p95, p99, avg, max (ms; streams by their time to first token; per operation with "
    "'OPERATION:p99>500ms'), error_rate (%), rps, ttft_p50/p95/p99/max, token_interval_p50/p95/p99/max "
    "and stream_p50/p95/p99/max (the whole stream) (ms)"
)
STREAM_KINDS = {"ttft": "ttft", "token_interval": "token_interval", "stream": "duration"}


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least `fraction` of the values at or below
    it (None for no values). Always one of the values, so never above the max."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def timing_summary(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(values)}
    for name, fraction in PERCENTILES:
        out[name] = percentile(values, fraction)
    out["max"] = max(values) if values else None
    out["avg"] = sum(values) / len(values) if values else None
    return out


# ------------------------------------------------------------------ figures


def request_row(name: str, requests: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    """One operation's (or all operations') row: counts, rate, errors and the latency summary."""
    times = [r["ms"] for r in requests]
    failures = sum(1 for r in requests if r["failed"])
    summary = timing_summary(times)
    return {
        "name": name,
        "requests": len(requests),
        "failures": failures,
        "rps": len(requests) / duration if duration else 0.0,
        "error_rate": 100.0 * failures / len(requests) if requests else 0.0,
        **{k: summary[k] for k in ("avg", "p50", "p95", "p99", "max")},
    }


def series(
    requests: list[dict[str, Any]], users: list[tuple[float, int]], started: float, duration: float
) -> dict[str, Any]:
    """The run over time, in buckets of whole seconds (at most ~40 of them): requests and errors per
    second, latency percentiles of the requests that ended in the bucket, users at its end."""
    width = max(1, math.ceil(duration / 40))
    buckets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        buckets[int(max(0.0, r["at"] - started) // width)].append(r)
    points = []
    for i in range(max(1, math.ceil(duration / width))):
        inside = buckets.get(i, [])
        times = [r["ms"] for r in inside]
        end = started + (i + 1) * width
        seen = [n for t, n in users if t <= end]
        points.append(
            {
                "t": (i + 1) * width,
                "rps": len(inside) / width,
                "errors_per_s": sum(1 for r in inside if r["failed"]) / width,
                **{name: percentile(times, fraction) for name, fraction in PERCENTILES},
                "users": seen[-1] if seen else 0,
            }
        )
    return {"bucket_s": width, "points": points}


def figures_from(
    observations: list[dict[str, Any]],
    duration: float,
    users: int,
    workers: int,
    started: float,
    user_samples: list[tuple[float, int]],
) -> dict[str, Any]:
    """Every figure of the report from what the users observed (one method for all of them)."""
    requests = [o for o in observations if o["kind"] == "request"]
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in requests:
        by_name[r["name"]].append(r)
    streams = [o for o in observations if o["kind"] == "stream"]
    return {
        "users": users,
        "workers": workers,
        "duration_s": duration,
        "latency": LATENCY,
        "percentiles": METHOD,
        "operations": [request_row(name, by_name[name], duration) for name in sorted(by_name)],
        "total": request_row("all operations", requests, duration),
        "streams": {
            "ttft": timing_summary([s["ttft_ms"] for s in streams if s["ttft_ms"] is not None]),
            "token_interval": timing_summary([i for s in streams for i in s["intervals_ms"]]),
            "duration": timing_summary([s["total_ms"] for s in streams if s.get("total_ms") is not None]),
        },
        "series": series(requests, user_samples, started, duration),
    }


# ------------------------------------------------------------------ thresholds


@dataclass(frozen=True)
class Threshold:
    text: str
    operation: str | None
    metric: str
    comparison: str
    value: float

    def breached(self, figures: dict[str, Any]) -> tuple[bool, float | None]:
        """(whether the figure breaks the threshold, the figure) for this threshold's scope."""
        actual = lookup(figures, self.operation, self.metric)
        if actual is None:
            return False, None
        ops = {
            ">": actual > self.value,
            ">=": actual >= self.value,
            "<": actual < self.value,
            "<=": actual <= self.value,
        }
        return ops[self.comparison], actual

    @property
    def unit(self) -> str:
        return "%" if self.metric == "error_rate" else "/s" if self.metric == "rps" else " ms"


def parse_threshold(text: str) -> Threshold:
    """`p99>500ms`, `error_rate>1%`, `sendChatMessage (streaming):p95>1s`, `ttft_p95>1s`, `rps<20`."""
    m = THRESHOLD.match(text)
    if not m:
        raise ValueError(f"--fail-on {text!r}: expected METRIC>VALUE[ms|s|%] (metrics: {METRICS})")
    metric, unit = m["metric"], m["unit"]
    value = float(m["value"]) * (1000 if unit == "s" else 1)
    known = {"p50", "p95", "p99", "avg", "max", "error_rate", "rps"} | {
        f"{kind}_{p}" for kind in STREAM_KINDS for p in ("p50", "p95", "p99", "max")
    }
    if metric not in known:
        raise ValueError(f"--fail-on {text!r}: unknown metric {metric!r} (metrics: {METRICS})")
    if metric == "error_rate" and unit not in (None, "%"):
        raise ValueError(f"--fail-on {text!r}: error_rate is a percentage")
    return Threshold(text.strip(), (m["op"] or "").strip() or None, metric, m["cmp"], value)


def lookup(figures: dict[str, Any], operation: str | None, metric: str) -> float | None:
    kind, _, p = metric.rpartition("_")
    if kind in STREAM_KINDS:
        return figures["streams"][STREAM_KINDS[kind]].get(p)
    row = figures["total"]
    if operation is not None:
        row = next((r for r in figures["operations"] if r["name"] == operation), None)
        if row is None:
            return None
    return row.get(metric)


def judge_thresholds(thresholds: list[Threshold], figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Each threshold: `ok`, `breached` or `no data`, with the figure it judged."""
    out = []
    for t in thresholds:
        breached, actual = t.breached(figures)
        kind = t.metric.rpartition("_")[0]
        scope = "the streams" if kind in STREAM_KINDS else t.operation or "all operations"
        figure = "no data" if actual is None else f"{actual:g}{t.unit}"
        if actual is None and t.operation is not None and kind not in STREAM_KINDS:
            known = ", ".join(r["name"] for r in figures["operations"])
            figure = f"no data: no operation {t.operation!r} ran (operations: {known})"
        out.append(
            {
                "rule": t.text,
                "verdict": "no data" if actual is None else "breached" if breached else "ok",
                "figure": actual,
                "limit": t.value,
                "message": f"{t.metric} of {scope} was {figure}",
            }
        )
    return out


# ------------------------------------------------------------------ text


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def figure_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as aligned text lines (for the terminal and the Markdown report)."""
    total = figures["total"]
    lines = [
        f"{figures['users']} users, {figures['duration_s']:.1f} s, {total['requests']} requests, "
        f"{total['rps']:.1f} req/s, error rate {total['error_rate']:.2f}% ({total['failures']} failed)",
        f"{LATENCY}; {METHOD}",
        "",
        f"{'operation':<30} {'requests':>8} {'failed':>6} {'req/s':>7} {'avg':>6} {'p50':>6} {'p95':>6} "
        f"{'p99':>6} {'max':>6}  (ms)",
    ]
    for r in figures["operations"] + [total]:
        lines.append(
            f"{r['name']:<30} {r['requests']:>8} {r['failures']:>6} {r['rps']:>7.1f} {_ms(r['avg']):>6} "
            f"{_ms(r['p50']):>6} {_ms(r['p95']):>6} {_ms(r['p99']):>6} {_ms(r['max']):>6}"
        )
    s = figures["streams"]
    lines += ["", f"{'streams':<30} {'count':>8} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}  (ms)"]
    for label, key in STREAM_ROWS:
        t = s[key]
        lines.append(
            f"{label:<30} {t['count']:>8} {_ms(t['p50']):>6} {_ms(t['p95']):>6} {_ms(t['p99']):>6} "
            f"{_ms(t['max']):>6}"
        )
    return lines


LATENCIES = ("avg", "p50", "p95", "p99", "max")
STREAM_ROWS = (
    ("time to first token", "ttft"),
    ("token interval", "token_interval"),
    ("whole stream", "duration"),
)


def invariant_lines(records: list[Record]) -> list[str]:
    lines = []
    for r in records:
        name = f"{r.check}[{r.subject}]" if r.subject else r.check
        verdict = {"passed": "holds", "failed": "VIOLATED"}.get(r.outcome, r.outcome)
        lines.append(f"{verdict:<9} {name}: {r.message}")
    return lines


def threshold_lines(thresholds: list[dict[str, Any]]) -> list[str]:
    return [
        f"{t['verdict'].upper() if t['verdict'] == 'breached' else t['verdict']:<9} "
        f"--fail-on {t['rule']}: {t['message']}"
        for t in thresholds
    ]


# ------------------------------------------------------------------ the report


def _failure_text(r: Record) -> str:
    """A JUnit failure's text: the message, the rule, the evidence ("" when the invariant holds)."""
    return "\n".join([r.message, f"contract: {r.expected}", *r.evidence]) if r.outcome == "failed" else ""


@dataclass
class LoadResults(Results):
    """The suite's results with the run's thresholds: a breached one fails the run (not a check)."""

    breached: list[str] = field(default_factory=list)

    def failing(self) -> bool:
        return bool(self.breached) or super().failing()

    def verdict(self) -> str:
        if "could not start" in self.meta:
            return super().verdict()
        violated = [r for r in self.records if r.level == "MUST" and r.outcome in ("failed", "blocked")]
        judged = sum(r.outcome in ("passed", "failed") for r in self.records)
        parts = []
        if violated:
            parts.append(f"{len(violated)} invariant finding(s), {len(self.top_causes(99))} root cause(s)")
        if self.breached:
            parts.append("threshold(s) breached: " + ", ".join(self.breached))
        if parts:
            return "FAIL: " + "; ".join(parts)
        return f"PASS: every invariant holds ({judged} judged), no threshold breached"


@dataclass
class LoadReport:
    figures: dict[str, Any]
    records: list[Record]
    meta: dict[str, Any]
    thresholds: list[dict[str, Any]] = field(default_factory=list)

    def results(self) -> LoadResults:
        breached = [t["rule"] for t in self.thresholds if t["verdict"] == "breached"]
        return LoadResults(records=self.records, meta=self.meta, breached=breached)

    def exit_status(self) -> int:
        return 1 if self.results().failing() else 0

    def lines(self) -> list[str]:
        """What the terminal shows at the end: the figures, the invariants, the thresholds, the verdict."""
        out = ["== chat-conformance load", *figure_lines(self.figures), "", *invariant_lines(self.records)]
        if self.thresholds:
            out += ["", *threshold_lines(self.thresholds)]
        return [*out, "", f"verdict: {self.results().verdict()}"]

    def markdown(self) -> str:
        suite = self.results().markdown().splitlines()[1:]
        cut = next((i for i, line in enumerate(suite) if line == "## Score per area"), len(suite))
        section = ["## Throughput and latency", "", "```", *figure_lines(self.figures), "```", ""]
        section += ["## Invariants", "", *(f"- {line}" for line in invariant_lines(self.records)), ""]
        if self.thresholds:
            section += ["## Thresholds (--fail-on)", ""]
            section += [*(f"- {t}" for t in threshold_lines(self.thresholds)), ""]
        return "\n".join(["# Load conformance report", *suite[:cut], *section, *suite[cut:]]) + "\n"

    def html(self) -> str:
        from conformance.htmlreport import render

        return render(self.results(), figures=self.html_figures(), title="Load conformance report")

    def html_figures(self) -> str:
        """Tables (operations, streams, invariants, thresholds) and charts over time, as HTML."""
        esc = html.escape
        f = self.figures

        def cells(values: list[Any]) -> str:
            return "".join(f'<td class="num">{esc(str(v))}</td>' for v in values)

        rows = "".join(
            f'<tr{" class=total" if r is f["total"] else ""} data-operation="{esc(r["name"])}">'
            f"<td>{esc(r['name'])}</td>"
            + cells([r["requests"], r["failures"], f"{r['rps']:.1f}", *(_ms(r[k]) for k in LATENCIES)])
            + "</tr>"
            for r in [*f["operations"], f["total"]]
        )
        ops = (
            "<table><tr><th>operation</th><th>requests</th><th>failed</th><th>req/s</th><th>avg</th>"
            f"<th>p50</th><th>p95</th><th>p99</th><th>max (ms)</th></tr>{rows}</table>"
        )
        streams = "".join(
            f"<tr><td>{esc(label)}</td>"
            + cells([f["streams"][key]["count"], *(_ms(f["streams"][key][k]) for k in LATENCIES[1:])])
            + "</tr>"
            for label, key in STREAM_ROWS
        )
        said = {"passed": "holds", "failed": "VIOLATED"}
        invariants = "".join(
            f"<tr><td><code>{esc(r.check)}{f'[{esc(r.subject)}]' if r.subject else ''}</code></td>"
            f'<td class="{"ok" if r.outcome == "passed" else "bad"}">'
            f"{esc(said.get(r.outcome, r.outcome))}</td>"
            f"<td>{esc(r.message)}</td></tr>"
            for r in self.records
        )
        thresholds = "".join(
            f'<tr data-threshold="{esc(t["verdict"])}"><td><code>--fail-on {esc(t["rule"])}</code></td>'
            f'<td class="{"bad" if t["verdict"] == "breached" else "ok" if t["verdict"] == "ok" else ""}">'
            f"{esc(t['verdict'])}</td><td>{esc(t['message'])}</td></tr>"
            for t in self.thresholds
        )
        return (
            '<h2 id="figures">Throughput and latency</h2>'
            f'<p class="muted">{esc(LATENCY)}; {esc(METHOD)}.</p>{ops}'
            "<h3>Streams</h3><table><tr><th></th><th>count</th><th>p50</th><th>p95</th><th>p99</th>"
            f"<th>max (ms)</th></tr>{streams}</table>"
            f"<h2>Over time</h2>{self.charts()}"
            "<h2>Invariants</h2><table><tr><th>invariant</th><th>verdict</th><th></th></tr>"
            f"{invariants}</table>"
            + (
                "<h2>Thresholds (--fail-on)</h2><p class=muted>Not checks of the server: a breached "
                "threshold fails the run, and is not counted in any score.</p>"
                f"<table><tr><th>rule</th><th>verdict</th><th></th></tr>{thresholds}</table>"
                if self.thresholds
                else ""
            )
        )

    def charts(self) -> str:
        s = self.figures.get("series") or {"points": []}
        points = s["points"]
        span = points[-1]["t"] if points else 1.0

        def line(key: str) -> list[tuple[float, float | None]]:
            return [(p["t"], p[key]) for p in points]

        charts = [
            line_chart("Requests", "per second", {"requests/s": line("rps")}, span),
            line_chart("Latency", "ms", {"p50": line("p50"), "p95": line("p95"), "p99": line("p99")}, span),
            line_chart("Users", "running", {"users": line("users")}, span),
            line_chart("Errors", "per second", {"errors/s": line("errors_per_s")}, span),
        ]
        return f'<div class="charts" data-points="{len(points)}">{"".join(charts)}</div>'

    def to_json(self) -> dict[str, Any]:
        return {"load": self.figures, "thresholds": self.thresholds, **self.results().to_json()}

    def write(self, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        suffix = target.suffix.lower()
        if suffix in (".html", ".htm"):
            target.write_text(self.html(), encoding="utf-8")
        elif suffix == ".json":
            target.write_text(json.dumps(self.to_json(), indent=1, default=str), encoding="utf-8")
        else:
            target.write_text(self.markdown(), encoding="utf-8")

    def write_junit(self, path: str) -> None:
        """One test case per invariant and per threshold; a violated or breached one is a failure."""
        cases = [
            (  # (name, check, failure text or "", message)
                f"{r.check}[{r.subject}]" if r.subject else r.check,
                r.check,
                _failure_text(r),
                r.message,
            )
            for r in self.records
        ]
        cases += [
            (
                f"threshold[{t['rule']}]",
                "load.threshold",
                t["message"] if t["verdict"] == "breached" else "",
                f"--fail-on {t['rule']} breached: {t['message']}",
            )
            for t in self.thresholds
        ]
        failures = sum(1 for _, _, text, _ in cases if text)
        suite = ET.Element("testsuite", name="chat-conformance.load", tests=str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        for name, check, failure, message in cases:
            case = ET.SubElement(suite, "testcase", classname="chat-conformance.load", name=name)
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="check", value=check)
            if failure:
                ET.SubElement(case, "failure", message=message[:500]).text = failure
        root = ET.Element("testsuites")
        root.append(suite)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
