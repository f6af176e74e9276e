"""The HTML report a vendor hands to a customer: one self-contained page (no script, no external asset).

Read top down it answers, in order: did the server pass (the verdict banner), which server and
which contract (its identity: base URL, Server header, kit version, the contract's sha256), how
each area scored (bars), what to fix (one card per root cause, the checks it explains, readable
evidence with the raw exchange and a curl line folded away), what is known or changed (baseline,
comparison), and what passed. Collapsible parts are <details>, so it prints and works without
JavaScript. Every number carries a data-* attribute, so tests can compare the page with the JSON.
"""

from __future__ import annotations

import html
import json
import re
import shlex
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from conformance.causes import readable
from conformance.clip import middle, was_cut
from conformance.grouping import Group
from conformance.results import SCORE_RULE, SHOWN_IN_FULL, _evidence_labels, _identity_line

if TYPE_CHECKING:
    from conformance.results import Record, Results

esc = html.escape

CSS = """
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--na:#6e7781;--line:#d0d7de;--soft:#f6f8fa}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;
margin:0;background:#fff}main{max-width:72em;margin:auto;padding:0 1.2em 3em}
.banner{padding:1.1em 1.2em;color:#fff;font-size:1.35em;font-weight:600}
.banner small{display:block;font-size:.62em;font-weight:400;opacity:.92}
.banner.pass{background:var(--ok)}.banner.fail{background:var(--bad)}.banner.known{background:var(--warn)}
.banner.notrun{background:var(--na)}
.banner ol.top{margin:.45em 0 0;padding-left:1.3em;font-size:.66em;font-weight:500}
.banner ol.top a{color:#fff}.banner .n{opacity:.85;font-weight:400}
.who{margin:.5em 0 0;color:#57606a;font-size:.88em;word-break:break-all}
h2{margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
.identity{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:1em 0}
.identity dt{color:#57606a}.identity dd{margin:0;word-break:break-all}
.tiles{display:flex;flex-wrap:wrap;gap:.6em;margin:1em 0}
.tile{border:1px solid var(--line);border-radius:8px;padding:.5em .9em;min-width:7.5em}
.tile b{display:block;font-size:1.6em}.tile.failed b,.tile.blocked b{color:var(--bad)}
.tile.passed b{color:var(--ok)}.tile.warning b{color:var(--warn)}
table{border-collapse:collapse;width:100%}
td,th{padding:.3em .6em;text-align:left;border-bottom:1px solid var(--line)}
th{background:var(--soft)}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{width:14em}.bar span{display:block;height:.8em;border-radius:4px;background:var(--line)}
.bar span i{display:block;height:100%;border-radius:4px}
.hi i{background:var(--ok)}.mid i{background:var(--warn)}.lo i{background:var(--bad)}
.cause{border:1px solid var(--line);border-left:5px solid var(--bad);border-radius:6px;margin:.8em 0;
padding:.2em .9em}
.cause.known{border-left-color:var(--warn)}.cause>summary{font-weight:600;cursor:pointer;padding:.4em 0}
.count{background:var(--bad);color:#fff;border-radius:1em;padding:0 .55em;font-size:.85em;margin-left:.4em}
.known .count{background:var(--warn)}
.reference{font-style:italic;color:var(--warn)}
.finding{margin:.6em 0 .9em}.finding .msg{margin:.15em 0}.rule{color:#57606a}
pre{background:var(--soft);padding:.6em;border-radius:6px;white-space:pre-wrap;word-break:break-all;
margin:.3em 0}
details details>summary{color:#0969da;cursor:pointer}code{font-size:.92em}
ul.checks{columns:2;padding-left:1.2em}.muted{color:#57606a}
td.ok{color:var(--ok);font-weight:600}td.bad{color:var(--bad);font-weight:600}tr.total td{font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:.4em 1.2em}.charts svg{max-width:100%;height:auto}
@media print{details{display:block}details>summary{list-style:none}.banner{-webkit-print-color-adjust:exact}}
"""


def render(results: Results, figures: str = "", title: str = "Conformance report") -> str:
    """The page: the verdict and the causes that make it first, then what to fix, then the rest.

    `figures` is HTML placed after the failures (the load report's tables and charts).
    """
    groups = results.causes()  # fills blocked_by before anything is shown
    labels = _evidence_labels(results.failed() + results.warnings())
    shown: dict[str, str] = {}
    page = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        f"<title>{esc(title)}: {esc(str(results.meta.get('base URL', '')))}</title>",
        f"<style>{CSS}</style></head><body>",
        _banner(results),
        "<main>",
        _who(results),
    ]
    if "could not start" in results.meta:
        return "".join([*page, _identity(results), "</main></body></html>"])
    failures = [
        f'<h2 id="failures">Failures (MUST): {len(results.failed())}</h2>',
        f'<p class="muted">{esc(results.replay_note())}</p>' if groups else "",
        _causes(groups, labels, shown),
    ]
    page += [
        _tiles(results, groups),
        *(failures + [figures] if groups else [figures] + failures),  # what failed comes first
        _baseline(results),
        _comparison(results),
        _areas(results),
        _identity(results),
        f"<h2>Warnings (SHOULD): {len(results.warnings())}</h2>",
        _findings(results.warnings(), labels, shown) or "<p>None.</p>",
        f"<h2>Skipped: {len(results.skipped())}</h2>",
        _skips(results),
        f"<h2>Passed: {sum(1 for r in results.records if r.outcome == 'passed')}</h2>",
        _passed(results),
        "</main></body></html>",
    ]
    return "".join(page)


def _banner(results: Results) -> str:
    """The verdict, the causes that make it (the largest three, linked to their cards), and in one
    line which server was judged by what."""
    verdict = results.verdict()
    kind = (
        "notrun"
        if verdict.startswith(("NOT RUN", "NO VERDICT"))
        else "fail"
        if verdict.startswith("FAIL")
        else "known"
        if verdict.startswith("PASS (baseline)")
        else "pass"
    )
    word, _, rest = verdict.partition(": ")
    groups = results.causes() if "could not start" not in results.meta else []
    top = [(i, g) for i, g in enumerate(groups, 1) if not all(r.known for r in g.records)][:3]
    items = "".join(
        f'<li><a href="#cause-{i}">{esc(g.title)}</a> <span class="n">'
        f"{g.size} {'check' if g.size == 1 else 'checks'}</span></li>"
        for i, g in top
    )
    causes = f'<ol class="top" data-top-causes="{len(top)}">{items}</ol>' if top else ""
    return (
        f'<header class="banner {kind}" data-verdict="{esc(word)}">{esc(word)}'
        f"<small>{esc(rest)}</small>{causes}</header>"
    )


def _who(results: Results) -> str:
    """Which server, judged by which kit and contract, in one line (the whole block comes later)."""
    who = _identity_line(results.meta)
    return f'<p class="who">{esc(who)} &middot; <a href="#identity">details</a></p>' if who else ""


IDENTITY = (
    ("base URL", "server"),
    ("Server header", "Server header"),
    ("era", "era"),
    ("surfaces judged", "surfaces judged"),
    ("surfaces not judged", "surfaces not judged"),
    ("kit version", "kit version"),
    ("contract sha256", "contract (openapi.yaml) sha256"),
    ("run id", "run id"),
    ("finished", "finished"),
)


def _identity(results: Results) -> str:
    meta = results.meta
    rows = [(label, meta[key]) for key, label in IDENTITY if key in meta]
    named = {key for key, _ in IDENTITY}
    rows += [(key, value) for key, value in meta.items() if key not in named]
    cells = "".join(
        f'<dt>{esc(str(k))}</dt><dd data-meta="{esc(str(k))}">{esc(str(v))}</dd>' for k, v in rows
    )
    return f'<h2 id="identity">Server and contract</h2><dl class="identity">{cells}</dl>'


def _tiles(results: Results, groups: list[Group]) -> str:
    counts: dict[str, int] = {}
    for r in results.records:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    tiles = [("passed", "passed"), ("failed", "failed"), ("blocked", "blocked"), ("warning", "warnings")]
    tiles.append(("skipped", "skipped"))
    out = [
        f'<div class="tile {key}"><b data-count="{key}">{counts.get(key, 0)}</b>{label}</div>'
        for key, label in tiles
    ]
    out.append(f'<div class="tile failed"><b data-count="causes">{len(groups)}</b>root causes</div>')
    return '<div class="tiles">' + "".join(out) + "</div>"


def _areas(results: Results) -> str:
    rows = []
    for area, c in results.areas_failures_first():
        score = results.score(c)
        pct = 0 if score is None else round(100 * score)
        tone = results.tone(c)
        rows.append(
            f'<tr data-area="{esc(area)}"><td>{esc(area)}</td><td>{results.shown_score(c)}</td>'
            f'<td class="bar {tone}" data-score="{results.shown_score(c)}">'
            f'<span><i style="width:{pct}%"></i></span></td>'
            + "".join(
                f'<td class="num" data-{k}="{c.get(k, 0)}">{c.get(k, 0)}</td>'
                for k in ("passed", "failed", "blocked", "warning", "skipped")
            )
            + "</tr>"
        )
    return (
        "<h2>Score per area</h2>"
        f'<p class="muted">{esc(SCORE_RULE)} Areas with a failure first; any failed MUST check is red.</p>'
        "<table><tr><th>area</th><th>score</th><th></th><th>passed</th><th>failed</th><th>blocked</th>"
        f"<th>warnings</th><th>skipped</th></tr>{''.join(rows)}</table>"
    )


def _causes(groups: list[Group], labels: dict[str, str], shown: dict[str, str]) -> str:
    if not groups:
        return "<p>None.</p>"
    parts = []
    for i, g in enumerate(groups, 1):
        known = all(r.known for r in g.records)
        rules = sorted({r.expected for r in g.failed if r.expected})
        rule = (
            f'<p class="rule">contract: {esc(rules[0])}</p>' if len(rules) == 1 else ""
        )  # one rule for the whole cause: say it once
        inherited = f'<p class="reference">{esc(g.reference)}</p>' if g.reference else ""
        said = g.reference  # said once for the cause, not again on each of its findings
        body = [
            inherited,
            rule,
            _findings(g.failed[:SHOWN_IN_FULL], labels, shown, show_rule=len(rules) != 1, said=said),
        ]
        rest = g.failed[SHOWN_IN_FULL:]
        if rest:  # the same defect again: folded, so the next cause is one scroll away
            body.append(
                f"<details><summary>{len(rest)} more failed checks explained by this cause</summary>"
                f"{_findings(rest, labels, shown, show_rule=len(rules) != 1, said=said)}</details>"
            )
        if g.blocked:
            if not g.failed:
                body.append('<p class="muted">found while preparing the checks below:</p>')
                body.append(_evidence(g.evidence()))
            names = "".join(
                f"<li><code>{esc(_name(r))}</code>{' (known)' if r.known else ''}</li>" for r in g.blocked
            )
            body.append(
                f"<p>Blocked by this cause, not judged ({len(g.blocked)}):</p>"
                f'<ul class="checks" data-blocked="{len(g.blocked)}">{names}</ul>'
            )
        parts.append(
            f'<details class="cause{" known" if known else ""}" open id="cause-{i}" data-cause="{i}" '
            f'data-size="{g.size}">'
            f"<summary>Cause {i}: {esc(g.title)}<span class=count>{g.size} "
            f"{'check' if g.size == 1 else 'checks'}</span>"
            f"{' <span class=muted>(known, baseline)</span>' if known else ''}</summary>"
            f"{''.join(body)}</details>"
        )
    return "".join(parts)


def _findings(
    records: list[Record],
    labels: dict[str, str],
    shown: dict[str, str],
    show_rule: bool = True,
    said: str = "",
) -> str:
    items = []
    for r in records:
        ev = []
        for e in r.evidence:
            label = labels.get(e)
            if label and label in shown:
                ev.append(
                    f'<div class="muted">evidence <a href="#{label}">{label}</a>, shown above under '
                    f"<code>{esc(shown[label])}</code></div>"
                )
                continue
            if label:
                shown[label] = _name(r)
                ev.append(f'<div id="{label}" class="muted">evidence {label}</div>')
            ev.append(_evidence([e]))
        known = f' <span class="muted">(known, baseline: {esc(r.known)})</span>' if r.known else ""
        if r.reference and r.reference != said:
            known += f' <span class="reference">{esc(r.reference)}</span>'
        rule = f'<div class="rule">contract: {esc(r.expected)}</div>' if r.expected and show_rule else ""
        items.append(
            f'<div class="finding"><code>{esc(_name(r))}</code> {esc(r.title)}{known}'
            f'<div class="msg">{esc(r.message)}</div>{rule}{"".join(ev)}</div>'
        )
    return "".join(items)


def _evidence(evidence: list[str]) -> str:
    """The exchange in a readable summary line, with the raw text and a curl line folded away."""
    out = []
    for e in evidence:
        first = e.splitlines()[0] if e else ""
        curl = curl_line(first)
        out.append(
            f"<details><summary>{esc(_summary(e))}</summary><pre>{esc(e)}</pre>"
            + (
                f"<details><summary>reproduce with curl</summary><pre>{esc(curl)}</pre></details>"
                if curl
                else ""
            )
            + "</details>"
        )
    return "".join(out)


REQUEST_LINE = re.compile(r"request: (\S+) (\S+)(?: \[([^\]]*)\])?(?: (.*))?$")


def _summary(evidence: str) -> str:
    """One line that tells this exchange from the others (the raw text is folded under it).

    Long values are cut in the middle, never at the end: the method, the path, every query parameter
    (a `limit` or a `first_id` after a long conversation id stays visible), a JSON request body's
    fields, and the answer's status, type and top-level JSON fields.
    """
    lines = evidence.splitlines()
    request = REQUEST_LINE.match(lines[0]) if lines else None
    if request is None:
        return middle(lines[0] if lines else "evidence", 160)
    method, url, note, body = request.groups()
    parts = urlsplit(url)
    path = "/".join(middle(segment, 16) for segment in parts.path.split("/"))
    query = "&".join(f"{k}={middle(v, 22)}" for k, v in parse_qsl(parts.query, keep_blank_values=True))
    shown = f"{method} {path}" + (f"?{query}" if query else "") + (f" [{note}]" if note else "")
    if body:
        shown += " " + _gist(body, 90)
    answer = next((line.strip()[8:] for line in lines[1:] if line.strip().startswith("answer: ")), "")
    if answer:
        shown += " -> " + _answer_gist(readable(answer))
    return shown


def _answer_gist(answer: str) -> str:
    """`200 application/json {limit: 1, has_more: true, data: [1]}`, or the answer line cut in the middle."""
    m = re.match(r"(\d{3}) (\S*) (.*)$", answer, re.S)
    if m is None or not m.group(3).startswith(("{", "[")):
        return middle(answer, 110)
    return " ".join(part for part in (m.group(1), m.group(2), _gist(m.group(3), 110)) if part)


def _gist(text: str, width: int) -> str:
    """A JSON value's top level in a few words (lists by length, objects folded), or "" when the text
    is not whole JSON (a body cut in the evidence is summed up by its status alone)."""
    try:
        value = json.loads(text)
    except ValueError:
        return middle(text, width) if not was_cut(text) and not text.startswith(("{", "[")) else ""

    def one(v: object) -> str:
        if isinstance(v, list):
            return f"[{len(v)}]"
        if isinstance(v, dict):
            return "{…}" if v else "{}"
        return middle(json.dumps(v, ensure_ascii=False), 26)

    if isinstance(value, dict):
        return middle("{" + ", ".join(f"{k}: {one(v)}" for k, v in value.items()) + "}", width)
    return one(value)


def curl_line(request_line: str) -> str:
    """A curl command for an evidence request line, or "" when it cannot be rebuilt exactly.

    The key is never in the evidence: the command reads it from $API_KEY. A body shown clipped
    (conformance.clip) or a request whose auth was special cannot be replayed, so no command is made.
    """
    m = re.match(r"request: (\S+) (\S+)(?: \[([^\]]*)\])?(?: (.*))?$", request_line)
    if not m:
        return ""
    method, url, note, body = m.groups()
    if note and note != "no Authorization header":
        return ""
    parts = ["curl", "-sS", "-X", method, shlex.quote(url)]
    if not note:
        parts += ["-H", '"Authorization: Bearer $API_KEY"']
    if body:
        if was_cut(body):
            return ""
        try:
            json.loads(body)
        except ValueError:
            return ""
        parts += ["-H", "'Content-Type: application/json'", "-d", shlex.quote(body)]
    return " ".join(parts)


def _baseline(results: Results) -> str:
    b = results.baseline
    if b is None:
        return ""
    entries = b.get("known_entries", [])
    rows = [f"<li>not in the baseline (fails the run): <code>{esc(n)}</code></li>" for n in b["new"]]
    rows += [
        f"<li>fixed, remove it from the baseline: <code>{esc(e['check'])}</code> ({esc(e['reason'])})</li>"
        for e in b["fixed"]
    ]
    rows += [
        f"<li>known: {esc(e['entry'])} ({len(e['checks'])} checks): {esc(e['reason'])}</li>" for e in entries
    ]
    rows += [f"<li>not judged in this run: <code>{esc(n)}</code></li>" for n in b["not_judged"]]
    return (
        f'<h2 data-baseline-new="{len(b["new"])}" data-baseline-fixed="{len(b["fixed"])}">Baseline: '
        f"{len(entries)} known, {len(b['new'])} failing check(s) not in the baseline, "
        f"{len(b['fixed'])} fixed</h2>"
        "<p class=muted>Known failures (declared with their reason) do not fail the run; a failure the "
        "baseline does not name does.</p>"
        f"<ul>{''.join(rows)}</ul>"
    )


def _comparison(results: Results) -> str:
    c = results.comparison
    if c is None:
        return ""

    def names(items: list[str]) -> str:
        return ", ".join(f"<code>{esc(n)}</code>" for n in items) or "none"

    scores = "".join(
        f"<li>score of {esc(s['area'])}: {_pct(s['before'])} &rarr; {_pct(s['now'])}</li>"
        for s in c["scores"]
        if s["before"] != s["now"]
    )
    changed = "".join(
        f"<li><code>{esc(ch['check'])}</code>: {esc(ch['before'])} &rarr; {esc(ch['now'])}</li>"
        for ch in c["changed"]
    )
    return (
        f"<h2>Changes since the previous run ({esc(c['previous'])})</h2><ul>"
        f'<li data-new-failures="{len(c["new_failures"])}">newly failing since the previous run '
        f"({len(c['new_failures'])}): {names(c['new_failures'])}</li>"
        f'<li data-fixed="{len(c["fixed"])}">fixed since the previous run ({len(c["fixed"])}): '
        f"{names(c['fixed'])}</li>"
        f"<li>still failing: {len(c['still_failing'])}</li>{changed}{scores}</ul>"
    )


def _pct(score: float | None) -> str:
    return "n/a" if score is None else f"{100 * score:.0f}%"


def _skips(results: Results) -> str:
    items = [f"<li><code>{esc(_name(r))}</code>: {esc(r.message)}</li>" for r in results.skipped()]
    if not items:
        return "<p>None.</p>"
    summary = f"{len(items)} checks not run, each with why"
    return f"<details><summary>{summary}</summary><ul>{''.join(items)}</ul></details>"


def _passed(results: Results) -> str:
    by_area: dict[str, list[Record]] = {}
    for r in results.records:
        if r.outcome == "passed":
            by_area.setdefault(r.area, []).append(r)
    if not by_area:
        return "<p>None.</p>"
    parts = []
    for area, records in sorted(by_area.items()):
        items = "".join(f"<li><code>{esc(_name(r))}</code> {esc(r.title)}</li>" for r in records)
        parts.append(
            f'<details data-passed-area="{esc(area)}"><summary>{esc(area)}: {len(records)} passed</summary>'
            f"<ul>{items}</ul></details>"
        )
    return "".join(parts)


def _name(r: Record) -> str:
    return f"{r.check}[{r.subject}]" if r.subject else r.check
