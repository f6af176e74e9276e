"""Make README's two screenshots from real runs (docs/report-fail.png, docs/report-load.png).

    python docs/screenshots.py [--only fail|load]

* FAIL: the suite against the project's composite of Dify 1.12.1's behaviours
  (tests/conformance/gallery/reference.py, served in-process), every Chat App area and fuzzing, with
  --other-app-key; its HTML report's first screen at 1280x900.
* load: README's own load example (50 users, 60 s, its three --fail-on thresholds) against `chat-mock`
  started as README starts it; its HTML report at 1280x1320.

Everything runs on 127.0.0.1; each run is bounded in time. Needs Debian's chromium and the [dev]
install. Not a test: it writes the images a person reads in README.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conformance.gallery import reference  # noqa: E402
from tests.conformance.harness import KEY, OTHER_KEY, serve  # noqa: E402

CHAT_AREAS = (
    "auth,chat,streaming,history,conversations,feedback,suggestions,variables,lifecycle,isolation,"
    "audio,files,parameters,appinfo,annotations,fuzz"
)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run"]


def screenshot(page: Path, out: Path, size: str) -> None:
    """chromium's own screenshot of a local page (the report is self-contained: no network)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("screenshots.py: chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={size}",
             f"--screenshot={out}", page.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"wrote {out.relative_to(ROOT)}")


def fail_report(tmp: Path) -> Path:
    html = tmp / "report.html"
    with serve(reference.dify_1_12_1(None)) as root:  # type: ignore[arg-type]  # it builds its own base
        subprocess.run(
            [sys.executable, "-m", "conformance", "--base-url", root + "/v1", "--api-key", KEY,
             "--other-app-key", OTHER_KEY, "--only", CHAT_AREAS, "--report", str(html)],
            cwd=tmp, timeout=900, check=False,
        )  # fmt: skip
    return html


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_report(tmp: Path) -> Path:
    html = tmp / "load.html"
    port = free_port()
    mock = subprocess.Popen(
        ["chat-mock", "--port", str(port), "--store", str(tmp / "mock.sqlite3")],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        subprocess.run(
            ["chat-conformance", "load", "--base-url", f"http://127.0.0.1:{port}/v1",
             "--api-key", "app-mock-dev-key", "--wait-for-server", "30",
             "--users", "50", "--spawn-rate", "10", "--run-time", "60s", "--report", str(html),
             "--fail-on", "p99>2s", "--fail-on", "ttft_p95>2s", "--fail-on", "error_rate>1%"],
            cwd=tmp, timeout=300, check=False,
        )  # fmt: skip
    finally:
        mock.terminate()
        mock.wait(timeout=30)
    return html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("fail", "load"))
    only = parser.parse_args().only
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        if only in (None, "fail"):
            screenshot(fail_report(tmp), ROOT / "docs" / "report-fail.png", "1280,900")
        if only in (None, "load"):
            screenshot(load_report(tmp), ROOT / "docs" / "report-load.png", "1280,1320")


if __name__ == "__main__":
    main()
