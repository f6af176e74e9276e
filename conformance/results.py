"""Check results: one record per check (and subject), written as JSON, Markdown or HTML.

The report groups by area with counts and a score (passed / (passed + failed)), explains each
failure with its evidence, and lists SHOULD-level findings apart from MUST failures.
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Record:
    check: str
    area: str
    title: str
    level: str
    outcome: str  # passed | failed | skipped | warning
    subject: str = ""
    message: str = ""
    expected: str = ""
    evidence: list[str] = field(default_factory=list)
    nodeid: str = ""
    duration: float = 0.0


@dataclass
class Results:
    records: list[Record] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def add(self, record: Record) -> None:
        self.records.append(record)

    def by_area(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in self.records:
            counts[r.area][r.outcome] += 1
        return {area: dict(c) for area, c in sorted(counts.items())}

    @staticmethod
    def score(counts: dict[str, int]) -> float | None:
        judged = counts.get("passed", 0) + counts.get("warning", 0) + counts.get("failed", 0)
        if not judged:
            return None
        return (counts.get("passed", 0) + counts.get("warning", 0)) / judged

    def failed(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "failed"]

    def warnings(self) -> list[Record]:
        return [r for r in self.records if r.outcome == "warning"]

    def to_json(self) -> dict[str, Any]:
        areas = {a: {**c, "score": self.score(c)} for a, c in self.by_area().items()}
        return {"meta": self.meta, "areas": areas, "results": [asdict(r) for r in self.records]}

    def write(self, path: str) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() in (".html", ".htm"):
            target.write_text(self.html(), encoding="utf-8")
        elif target.suffix.lower() == ".json":
            target.write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")
        else:
            target.write_text(self.markdown(), encoding="utf-8")

    def summary_lines(self) -> list[str]:
        lines = []
        for area, c in self.by_area().items():
            s = self.score(c)
            shown = "n/a" if s is None else f"{100 * s:.0f}%"
            lines.append(
                f"{area:<15} score {shown:>5}  passed {c.get('passed', 0):>3}  failed {c.get('failed', 0):>3}"
                f"  warnings {c.get('warning', 0):>3}  skipped {c.get('skipped', 0):>3}"
            )
        return lines

    def markdown(self) -> str:
        out = ["# Conformance report", ""]
        for key, value in self.meta.items():
            out.append(f"- **{key}**: {value}")
        out += [
            "",
            "## Score per area",
            "",
            "| area | score | passed | failed | warnings | skipped |",
            "|---|---|---|---|---|---|",
        ]
        for area, c in self.by_area().items():
            s = self.score(c)
            out.append(
                f"| {area} | {'n/a' if s is None else f'{100 * s:.0f}%'} | {c.get('passed', 0)} | "
                f"{c.get('failed', 0)} | {c.get('warning', 0)} | {c.get('skipped', 0)} |"
            )
        out += ["", f"## Failures (MUST): {len(self.failed())}", ""]
        out += _md_findings(self.failed())
        out += ["", f"## Warnings (SHOULD): {len(self.warnings())}", ""]
        out += _md_findings(self.warnings())
        skipped = [r for r in self.records if r.outcome == "skipped"]
        out += ["", f"## Skipped: {len(skipped)}", ""]
        out += [f"- `{_name(r)}`: {r.message}" for r in skipped]
        return "\n".join(out) + "\n"

    def html(self) -> str:
        esc = html.escape
        rows = []
        for area, c in self.by_area().items():
            s = self.score(c)
            rows.append(
                f"<tr><td>{esc(area)}</td><td>{'n/a' if s is None else f'{100 * s:.0f}%'}</td>"
                f"<td>{c.get('passed', 0)}</td><td>{c.get('failed', 0)}</td><td>{c.get('warning', 0)}</td>"
                f"<td>{c.get('skipped', 0)}</td></tr>"
            )

        def findings(records: list[Record]) -> str:
            items = []
            for r in records:
                ev = "".join(f"<pre>{esc(e)}</pre>" for e in r.evidence)
                exp = f"<div><b>contract:</b> {esc(r.expected)}</div>" if r.expected else ""
                head = f"<code>{esc(_name(r))}</code> {esc(r.title)}"
                items.append(f"<li>{head}<div>{esc(r.message)}</div>{exp}{ev}</li>")
            return "<ul>" + "".join(items) + "</ul>" if items else "<p>None.</p>"

        meta = "".join(f"<li><b>{esc(str(k))}</b>: {esc(str(v))}</li>" for k, v in self.meta.items())
        return (
            "<!doctype html><meta charset=utf-8><title>Conformance report</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}td,th{padding:2px 8px}"
            "pre{background:#f4f4f4;white-space:pre-wrap}</style>"
            f"<h1>Conformance report</h1><ul>{meta}</ul><h2>Score per area</h2>"
            "<table><tr><th>area</th><th>score</th><th>passed</th><th>failed</th><th>warnings</th>"
            f"<th>skipped</th></tr>{''.join(rows)}</table>"
            f"<h2>Failures (MUST): {len(self.failed())}</h2>{findings(self.failed())}"
            f"<h2>Warnings (SHOULD): {len(self.warnings())}</h2>{findings(self.warnings())}"
        )


def _name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check


def _md_findings(records: list[Record]) -> list[str]:
    if not records:
        return ["None."]
    out = []
    for r in records:
        out.append(f"- **`{_name(r)}`** ({r.title}): {r.message}")
        if r.expected:
            out.append(f"  - contract: {r.expected}")
        for e in r.evidence:
            out.append("  - " + e.replace("\n", "\n    "))
    return out
