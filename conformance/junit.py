"""The JUnit file as CI dashboards show it: one test suite per area, classnames `chat-conformance.<area>`.

pytest writes one suite named `pytest` whose classnames are module paths
(`conformance.checks.test_auth`); a dashboard then shows "pytest" and module names. The suite's own
file regroups the same test cases, unchanged, by the area of their check (the `check` property),
with each suite's counts recomputed.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

PREFIX = "chat-conformance"
_MODULE_PREFIX = "conformance.checks.test_"


def area_of(case: ET.Element) -> str:
    """The case's area: from its check id (`auth.missing_key` -> auth), else its module, else its
    classname as already set (`chat-conformance.run`: how the run stopped)."""
    for prop in case.iter("property"):
        if prop.get("name") == "check" and prop.get("value"):
            return str(prop.get("value")).split(".")[0]
    classname = case.get("classname", "")
    if classname.startswith(_MODULE_PREFIX):
        return classname.removeprefix(_MODULE_PREFIX).split(".")[0]
    if classname.startswith(PREFIX + "."):
        return classname.removeprefix(PREFIX + ".")
    return "suite"


def _outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def regroup(path: str | Path) -> None:
    """Rewrite the JUnit file at `path` with one suite per area (a no-op for a file already grouped)."""
    tree = ET.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites or all(s.get("name", "").startswith(PREFIX) for s in suites):
        return
    first = suites[0]
    by_area: dict[str, list[ET.Element]] = defaultdict(list)
    for suite in suites:
        for case in suite.findall("testcase"):
            area = area_of(case)
            case.set("classname", f"{PREFIX}.{area}")
            by_area[area].append(case)
    out = ET.Element("testsuites", name=PREFIX)
    totals: defaultdict[str, float] = defaultdict(float)
    for area in sorted(by_area):
        cases = by_area[area]
        counts: defaultdict[str, int] = defaultdict(int)
        for case in cases:
            counts[_outcome(case)] += 1
        seconds = sum(float(c.get("time", "0") or 0) for c in cases)
        suite = ET.SubElement(
            out,
            "testsuite",
            name=f"{PREFIX}.{area}",
            tests=str(len(cases)),
            failures=str(counts["failure"]),
            errors=str(counts["error"]),
            skipped=str(counts["skipped"]),
            time=f"{seconds:.3f}",
        )
        for attr in ("timestamp", "hostname"):
            if first.get(attr):
                suite.set(attr, str(first.get(attr)))
        suite.extend(cases)
        for key, value in (("tests", len(cases)), ("time", seconds), *((k, v) for k, v in counts.items())):
            totals[key] += value
    out.set("tests", str(int(totals["tests"])))
    out.set("failures", str(int(totals["failure"])))
    out.set("errors", str(int(totals["error"])))
    out.set("skipped", str(int(totals["skipped"])))
    out.set("time", f"{totals['time']:.3f}")
    ET.ElementTree(out).write(path, encoding="utf-8", xml_declaration=True)
