"""The load report: throughput, latency percentiles, stream timings, error rate, and the findings.

The findings are `conformance.results.Record`s rendered by the suite's own `Results` (Markdown,
HTML, JSON, evidence shown once); this module adds the figures around them, the `--fail-on`
thresholds and the JUnit file.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.results import Record, Results

PERCENTILES = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
THRESHOLD = re.compile(
    r"^\s*(?:(?P<op>[^:<>=]+):)?\s*(?P<metric>[a-z_0-9]+)\s*(?P<cmp>>=|<=|>|<)\s*"
    r"(?P<value>[0-9]*\.?[0-9]+)\s*(?P<unit>ms|s|%)?\s*$"
)
METRICS = (
    "p50, p95, p99, avg, max (ms; per operation with 'OPERATION:p99>500ms'), error_rate (%), rps, "
    "ttft_p50/p95/p99 and token_interval_p50/p95/p99 (ms)"
)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def timing_summary(values: list[float]) -> dict[str, Any]:
    out: dict[str, Any] = {"count": len(values)}
    for name, fraction in PERCENTILES:
        out[name] = percentile(values, fraction)
    out["max"] = max(values) if values else None
    return out


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


def parse_threshold(text: str) -> Threshold:
    """`p99>500ms`, `error_rate>1%`, `sendChatMessage (streaming):ttft_p95>1s`, `rps<20`."""
    m = THRESHOLD.match(text)
    if not m:
        raise ValueError(f"--fail-on {text!r}: expected METRIC>VALUE[ms|s|%] (metrics: {METRICS})")
    metric, unit = m["metric"], m["unit"]
    value = float(m["value"]) * (1000 if unit == "s" else 1)
    known = {"p50", "p95", "p99", "avg", "max", "error_rate", "rps"} | {
        f"{kind}_{p}" for kind in ("ttft", "token_interval") for p in ("p50", "p95", "p99")
    }
    if metric not in known:
        raise ValueError(f"--fail-on {text!r}: unknown metric {metric!r} (metrics: {METRICS})")
    if metric == "error_rate" and unit not in (None, "%"):
        raise ValueError(f"--fail-on {text!r}: error_rate is a percentage")
    return Threshold(text.strip(), (m["op"] or "").strip() or None, metric, m["cmp"], value)


def lookup(figures: dict[str, Any], operation: str | None, metric: str) -> float | None:
    if metric.startswith(("ttft_", "token_interval_")):
        kind, _, p = metric.rpartition("_")
        return figures["streams"]["ttft" if kind == "ttft" else "token_interval"].get(p)
    row = figures["total"]
    if operation is not None:
        row = next((r for r in figures["operations"] if r["name"] == operation), None)
        if row is None:
            return None
    return row.get(metric)


def threshold_records(thresholds: list[Threshold], figures: dict[str, Any]) -> list[Record]:
    out = []
    for t in thresholds:
        breached, actual = t.breached(figures)
        scope = t.operation or "all operations"
        unit = "%" if t.metric == "error_rate" else "" if t.metric == "rps" else " ms"
        shown = "no data" if actual is None else f"{actual:g}{unit}"
        if actual is None and t.operation is not None:
            known = ", ".join(r["name"] for r in figures["operations"])
            shown = f"no data: no operation {t.operation!r} ran (operations: {known})"
        out.append(
            Record(
                "load.threshold",
                "load",
                "a --fail-on threshold",
                "MUST",
                "skipped" if actual is None else "failed" if breached else "passed",
                subject=t.text,
                message=f"{t.metric} of {scope} was {shown}",
                expected=f"--fail-on {t.text}: fail when it holds",
            )
        )
    return out


# ------------------------------------------------------------------ rendering


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def figure_lines(figures: dict[str, Any]) -> list[str]:
    """The figures as aligned text lines (for the terminal and the Markdown report)."""
    total = figures["total"]
    lines = [
        f"{figures['users']} users, {figures['duration_s']:.1f} s, {total['requests']} requests, "
        f"{total['rps']:.1f} req/s, error rate {total['error_rate']:.2f}% ({total['failures']} failed)",
        "",
        f"{'operation':<30} {'requests':>8} {'failed':>6} {'req/s':>7} {'p50':>6} {'p95':>6} "
        f"{'p99':>6} {'max':>6}  (ms)",
    ]
    for r in figures["operations"] + [total]:
        lines.append(
            f"{r['name']:<30} {r['requests']:>8} {r['failures']:>6} {r['rps']:>7.1f} {_ms(r['p50']):>6} "
            f"{_ms(r['p95']):>6} {_ms(r['p99']):>6} {_ms(r['max']):>6}"
        )
    s = figures["streams"]
    lines += ["", f"{'streams':<30} {'count':>8} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}  (ms)"]
    for label, key in (("time to first token", "ttft"), ("token interval", "token_interval")):
        t = s[key]
        lines.append(
            f"{label:<30} {t['count']:>8} {_ms(t['p50']):>6} {_ms(t['p95']):>6} {_ms(t['p99']):>6} "
            f"{_ms(t['max']):>6}"
        )
    return lines


def invariant_lines(records: list[Record]) -> list[str]:
    lines = []
    for r in records:
        name = f"{r.check}[{r.subject}]" if r.subject else r.check
        verdict = {"passed": "holds", "failed": "VIOLATED"}.get(r.outcome, r.outcome)
        lines.append(f"{verdict:<9} {name}: {r.message}")
    return lines


@dataclass
class LoadReport:
    figures: dict[str, Any]
    records: list[Record]
    meta: dict[str, Any]

    def results(self) -> Results:
        return Results(records=self.records, meta=self.meta)

    def exit_status(self) -> int:
        return 1 if any(r.outcome == "failed" for r in self.records) else 0

    def markdown(self) -> str:
        suite = self.results().markdown().splitlines()
        if suite and suite[0].startswith("# "):
            suite = suite[1:]
        cut = next((i for i, line in enumerate(suite) if line.startswith("## ")), len(suite))
        figures = ["## Throughput and latency", "", "```", *figure_lines(self.figures), "```", ""]
        invariants = ["## Invariants", "", *(f"- {line}" for line in invariant_lines(self.records)), ""]
        return (
            "\n".join(["# Load conformance report", *suite[:cut], *figures, *invariants, *suite[cut:]]) + "\n"
        )

    def html(self) -> str:
        esc = html.escape
        table = "<pre>" + esc("\n".join(figure_lines(self.figures))) + "</pre>"
        inv = "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in invariant_lines(self.records)) + "</ul>"
        section = f"<h2>Throughput and latency</h2>{table}<h2>Invariants</h2>{inv}"
        page = self.results().html().replace("<title>Conformance report", "<title>Load conformance report", 1)
        page = page.replace("<h1>Conformance report</h1>", "<h1>Load conformance report</h1>", 1)
        cut = page.find("<h2>")
        return page + section if cut < 0 else page[:cut] + section + page[cut:]

    def to_json(self) -> dict[str, Any]:
        return {"load": self.figures, **self.results().to_json()}

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
        """One test case per invariant (and threshold); a violated one is a failure with its evidence."""
        failures = sum(1 for r in self.records if r.outcome == "failed")
        suite = ET.Element(
            "testsuite",
            name="chat-conformance.load",
            tests=str(len(self.records)),
            failures=str(failures),
            errors="0",
        )
        for r in self.records:
            name = f"{r.check}[{r.subject}]" if r.subject else r.check
            case = ET.SubElement(suite, "testcase", classname="chat-conformance.load", name=name)
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="check", value=r.check)
            if r.outcome == "failed":
                text = "\n".join([r.message, f"contract: {r.expected}", *r.evidence])
                ET.SubElement(case, "failure", message=r.message[:500]).text = text
        root = ET.Element("testsuites")
        root.append(suite)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)
