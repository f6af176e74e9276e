"""The HTML report in a real browser: Debian's chromium renders it headless, its numbers match the JSON.

Real runs (a server with one bug, one that behaves like Dify 1.12.1 with its several defects, and the
correct mock) write HTML and JSON reports; chromium loads each from a file:// URL, for its DOM
(--dump-dom: the page as the browser built it), for a screenshot (the banner's colour is read from the
PNG's pixels), and for the layout at 1280x900 (where the first cause card is: a copy of the page with a
probe script, the report itself has none). Without chromium the test
is skipped, except under CI=true, where chromium is installed by .ci/run and its absence is a failure.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from conformance.data import contract_path
from tests.conformance.gallery import BROKEN
from tests.conformance.gallery.reference import dify_1_12_1
from tests.conformance.harness import OTHER_APP_ARGS, mock_app, run_suite, serve

AREAS = "chat,history,parameters"
REFERENCE_AREAS = "auth,chat,streaming,history,conversations,feedback,variables,lifecycle,isolation"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RED, GREEN = (0xCF, 0x22, 0x2E), (0x1A, 0x7F, 0x37)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing under CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return found


def browse(page: Path, tmp: Path, *what: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    args = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900", *what]
    return subprocess.run([*args, page.as_uri()], capture_output=True, text=True, timeout=120)


class Collect(HTMLParser):
    """Every element's attributes and text, from the DOM chromium dumped."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.stack: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = {"tag": tag, **{k: v or "" for k, v in attrs}, "text": ""}
        self.elements.append(element)
        if tag not in ("meta", "br", "img", "link", "input"):
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for element in self.stack:
            element["text"] += data

    def one(self, attr: str, value: str | None = None) -> dict[str, str]:
        found = [e for e in self.elements if attr in e and (value is None or e[attr] == value)]
        assert len(found) == 1, f"{attr}={value}: {len(found)} elements"
        return found[0]


def pixel(png: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of one pixel of an 8-bit, non-interlaced PNG (what chromium writes)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        data = png[pos + 8 : pos + 8 + length]
        header, idat = (data, idat) if kind == b"IHDR" else (header, idat + data if kind == b"IDAT" else idat)
        pos += 12 + length
    width, _, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and interlace == 0 and colour in (2, 6)
    bpp = 3 if colour == 2 else 4
    raw, stride, previous = zlib.decompress(idat), width * bpp, bytearray(width * bpp)
    for row in range(y + 1):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            paeth = a if pa <= pb and pa <= pc else b if pb <= pc else c
            line[i] = (line[i] + (0, a, b, (a + b) // 2, paeth)[kind]) & 0xFF
        previous = line
    return tuple(previous[x * bpp : x * bpp + 3])  # type: ignore[return-value]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Path, dict[str, Any]]]]:
    """name -> (HTML report, JSON report) of two real runs."""
    tmp = tmp_path_factory.mktemp("reports")
    out = {}
    broken = next(v for v in BROKEN if v.name == "cursor_ignored")
    runs = (
        ("broken", broken.make(mock_app()), AREAS, ()),
        ("correct", mock_app(), AREAS, ()),
        ("reference", dify_1_12_1(None), REFERENCE_AREAS, OTHER_APP_ARGS),
    )
    for name, app, areas, extra in runs:
        with serve(app) as root:
            run_suite(
                root, areas, "--report", str(tmp / f"{name}.html"), "--report", str(tmp / f"{name}.json"),
                *extra,
            )  # fmt: skip
        out[name] = (tmp / f"{name}.html", json.loads((tmp / f"{name}.json").read_text()))
    yield out


@pytest.mark.parametrize("name", ["broken", "correct"])
def test_the_rendered_numbers_match_the_json(
    name: str, reports: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    page, doc = reports[name]
    shown = browse(page, tmp_path, "--dump-dom")
    assert shown.returncode == 0, shown.stderr[-2000:]
    dom = Collect()
    dom.feed(shown.stdout)
    assert dom.one("data-verdict")["data-verdict"] == doc["verdict"].split(":")[0]
    counts = {o: sum(1 for r in doc["results"] if r["outcome"] == o) for o in ("passed", "failed", "blocked")}
    counts |= {"warning": sum(1 for r in doc["results"] if r["outcome"] == "warning")}
    counts |= {"skipped": sum(1 for r in doc["results"] if r["outcome"] == "skipped")}
    for outcome, number in counts.items():
        assert dom.one("data-count", outcome)["text"] == str(number), outcome
    assert dom.one("data-count", "causes")["text"] == str(len(doc["causes"]))
    for area, c in doc["areas"].items():
        row = dom.one("data-area", area)
        score = "n/a" if c["score"] is None else f"{100 * c['score']:.0f}%"
        [bar] = [e for e in _cells(dom, row) if "data-score" in e]
        assert bar["data-score"] == score and row["text"].startswith(area + score), (area, row["text"])
        for key in ("passed", "failed", "blocked", "warning", "skipped"):
            cells = [e for e in _cells(dom, row) if f"data-{key}" in e]
            assert [e[f"data-{key}"] for e in cells] == [str(c.get(key, 0))], (area, key)
    causes = [e for e in dom.elements if "data-cause" in e]
    assert [int(e["data-size"]) for e in causes] == [
        len(c["failed"]) + len(c["blocked"]) for c in doc["causes"]
    ]
    # the identity of what judged and what was judged
    digest = hashlib.sha256(contract_path().read_bytes()).hexdigest()
    assert dom.one("data-meta", "contract (openapi.yaml) sha256")["text"] == digest
    assert dom.one("data-meta", "kit version")["text"] == importlib.metadata.version("chat-contract-kit")
    assert dom.one("data-meta", "server")["text"] == doc["meta"]["base URL"]
    assert dom.one("data-meta", "Server header")["text"].startswith("Werkzeug")


def _cells(dom: Collect, row: dict[str, str]) -> list[dict[str, str]]:
    """The elements of one table row, in document order."""
    start = next(i for i, e in enumerate(dom.elements) if e is row)
    end = next((i for i in range(start + 1, len(dom.elements)) if dom.elements[i]["tag"] == "tr"), None)
    return dom.elements[start + 1 : end]


@pytest.mark.parametrize(("name", "colour"), [("broken", RED), ("correct", GREEN)])
def test_the_verdict_banner_renders_in_its_colour(
    name: str, colour: tuple[int, int, int], reports: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    page, _ = reports[name]
    shot = tmp_path / "page.png"
    done = browse(page, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    png = shot.read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 900)
    assert all(abs(got - want) <= 8 for got, want in zip(pixel(png, 5, 5), colour, strict=True))
    assert pixel(png, 5, 300) == (255, 255, 255)  # below the banner: the page's white


def test_the_report_is_self_contained(reports: dict[str, tuple[Path, dict[str, Any]]]) -> None:
    text = reports["broken"][0].read_text()
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "url(" not in text  # no fonts or images fetched by the stylesheet


PROBE = """<script>
const card = document.querySelector('[data-cause]'), banner = document.querySelector('[data-verdict]');
const box = (e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; };
document.body.setAttribute('data-layout', JSON.stringify({
  banner: box(banner), card: card && box(card), title: card && box(card.querySelector('summary')),
  height: document.documentElement.scrollHeight}));
</script>"""


def layout(page: Path, tmp: Path) -> dict[str, Any]:
    """Where the banner and the first cause card are, in CSS pixels, as chromium lays the page out in
    a 1280x900 window (a copy of the page with a probe script: the report itself has none)."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    shown = browse(probed, tmp, "--dump-dom")
    found = re.search(r'data-layout="([^"]*)"', shown.stdout)
    assert found, shown.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"'))


@pytest.mark.parametrize("name", ["broken", "reference"])
def test_a_fail_report_shows_the_verdict_and_the_first_cause_on_its_first_screen(
    name: str, reports: dict[str, tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    """At 1280x900 the first screen holds the verdict and the whole title of the first cause's card
    (the largest cause): a reader sees what failed without scrolling (issue 22: it was at y=1,300)."""
    page, doc = reports[name]
    assert doc["verdict"].startswith("FAIL") and doc["causes"]
    where = layout(page, tmp_path)
    assert where["banner"][0] == 0
    assert where["card"] is not None and where["title"][1] <= 900, where
    dom = Collect()
    dom.feed(browse(page, tmp_path, "--dump-dom").stdout)
    title = next(e for e in dom.elements if e.get("data-cause") == "1")["text"]
    assert doc["causes"][0]["title"] in title
    assert doc["causes"][0]["title"] in dom.one("data-verdict")["text"]  # the verdict names it too
