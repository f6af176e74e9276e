"""`chat-mock record`: put a recording proxy in front of a real app and write down what it says.

    chat-mock record --upstream https://api.dify.ai/v1 --api-key app-... --out recordings/my-app

At start it fetches the app's GET /parameters, /info, /site and /meta with the key (so the
recording is a whole app even if the UI never asks) into DIR/app.yaml, then serves the proxy on
the loopback until Ctrl-C or SIGTERM. Point a UI, an SDK or curl at the printed base URL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mock_server import __version__
from mock_server.recording import layout

ENV_KEY = "CHAT_MOCK_RECORD_API_KEY"  # the key, kept out of the process list
DRAIN_S = 10.0  # on a stop, how long the answers in flight have to end and be written
APP_DOCUMENTS = {"parameters": "/parameters", "app": "/info", "site": "/site", "meta": "/meta"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="chat-mock record",
        description="Record a real Chat App through a transparent proxy, into a directory that "
        "`chat-mock --app-dir DIR` serves offline.",
    )
    p.add_argument("--version", action="version", version=f"chat-mock {__version__}")
    p.add_argument(
        "--upstream", required=True, metavar="URL", help="the app's API base URL, e.g. https://api.dify.ai/v1"
    )
    p.add_argument("--api-key", metavar="KEY", help=f"the app's API key (default: ${ENV_KEY})")
    p.add_argument(
        "--out", required=True, metavar="DIR", help="the recording directory (created; appended to)"
    )
    p.add_argument("--host", default="127.0.0.1", help="the proxy's address: a loopback address only")
    p.add_argument("--port", type=int, default=5002, help="the proxy's port (default 5002)")
    p.add_argument(
        "--replay-key",
        metavar="KEY",
        help="the key the replaying mock serves this app under (default: app-recorded-<DIR name>); "
        "a client that presents it is sent upstream with the real key",
    )
    p.add_argument("--anonymize-users", action="store_true", help="record end user ids as user-<hash>")
    p.add_argument("--max-events", type=int, default=20_000, help="stream events kept per exchange")
    p.add_argument("--max-body-kb", type=int, default=2048, help="request/answer body kept per exchange")
    p.add_argument("--max-stream-mb", type=int, default=64, help="stream bytes kept per exchange")
    p.add_argument("--max-file-mb", type=int, default=20, help="bytes of an answer's file fetched")
    p.add_argument("--read-timeout", type=float, default=300.0, help="seconds of upstream silence tolerated")
    return p


def fetch_app(
    session: Any, upstream: str, key: str, timeout: float = 30.0
) -> tuple[dict[str, Any], list[str]]:
    """The app's documents from the upstream ({parameters, app, site, meta}) and notes on the ones
    it would not give; RuntimeError when /parameters itself fails (a wrong key or URL)."""
    docs: dict[str, Any] = {}
    notes: list[str] = []
    for name, path in APP_DOCUMENTS.items():
        url = upstream.rstrip("/") + path
        try:
            resp = session.get(
                url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout, allow_redirects=False
            )
            body = resp.json() if resp.content else None
        except Exception as exc:
            problem = f"GET {path}: {type(exc).__name__}"
        else:
            if resp.status_code == 200 and isinstance(body, dict):
                docs[name] = body
                continue
            detail = body.get("message") if isinstance(body, dict) else ""
            problem = f"GET {path}: {resp.status_code} {detail}".strip()
        if name == "parameters":
            raise RuntimeError(problem)
        notes.append(f"{problem} (not recorded; the mock's own is served)")
    return docs, notes


def app_document(
    existing: dict[str, Any], docs: dict[str, Any], notes: list[str], upstream: str, key: str, redactor: Any
) -> dict[str, Any]:
    """app.yaml: what a person edits (key, replay) is kept from an earlier recording."""
    from mock_server.recording.redact import scrub_url

    doc: dict[str, Any] = {
        "format": layout.FORMAT,
        "key": existing.get("key") or key,
        "recorded": {
            "upstream": scrub_url(upstream),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
        **{name: redactor.scrub(docs[name]) for name in APP_DOCUMENTS if name in docs},
        "replay": existing.get("replay")
        or {"fallback": "nearest", "answer": "Sorry, I have no recorded answer to that."},
    }
    if notes:
        doc["notes"] = notes
    return doc


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from mock_server.cli import is_loopback

    key = args.api_key or os.environ.get(ENV_KEY, "")
    problem = _problem(args, key, is_loopback)
    if problem:
        print(f"chat-mock record: error: {problem}", file=sys.stderr, flush=True)
        return 2
    from werkzeug.serving import make_server

    from mock_server.recording.proxy import RecordingProxy, RecordSettings, upstream_session
    from mock_server.recording.redact import Redactor, scrub_url
    from mock_server.yamlload import load_yaml

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layout.remove_temp_files(out)
    app_file = out / layout.APP_FILE
    existing = load_yaml(app_file.read_text(encoding="utf-8")) if app_file.is_file() else {}
    existing = existing if isinstance(existing, dict) else {}
    replay_key = args.replay_key or existing.get("key") or layout.default_replay_key(out)
    session = upstream_session()
    try:
        docs, notes = fetch_app(session, args.upstream, key)
    except RuntimeError as exc:
        print(f"chat-mock record: error: the upstream refused the app's {exc}", file=sys.stderr, flush=True)
        return 2
    settings = RecordSettings(
        upstream=args.upstream.rstrip("/"),
        api_key=key,
        out=out,
        replay_key=replay_key,
        anonymize_users=args.anonymize_users,
        max_body_bytes=args.max_body_kb * 1024,
        max_events=args.max_events,
        max_stream_bytes=args.max_stream_mb * 2**20,
        max_file_bytes=args.max_file_mb * 2**20,
        read_timeout_s=args.read_timeout,
    )
    proxy = RecordingProxy(settings, session)
    redactor = Redactor([key])
    comment = (
        "chat-mock record: the recorded app (GET /info as `app`, /parameters, /site, /meta),\n"
        "credentials removed.\n"
        "`key` is the API key the replaying mock serves it under; `replay.fallback` answers unrecorded\n"
        "queries: nearest (the closest recorded query), answer (replay.answer) or error (a 404).\n"
        "Serve it: chat-mock --app-dir DIR"
    )
    doc = app_document(existing, docs, notes, args.upstream, replay_key, redactor)
    layout.write_atomic(app_file, layout.dump_yaml(doc, comment))
    try:
        server = make_server(args.host, args.port, proxy, threaded=True)
    except OSError as exc:
        print(
            f"chat-mock record: error: cannot listen on {args.host}:{args.port}: {exc.strerror}",
            file=sys.stderr,
        )
        return 2
    server.daemon_threads = True  # type: ignore[attr-defined]  # threaded=True: a ThreadedWSGIServer
    base = f"http://{args.host}:{server.server_port}{settings.base_path}"
    print(
        f"chat-mock record: {base} -> {scrub_url(args.upstream)}, recording into {out} "
        f"(replay: chat-mock --app-dir {out}, key {doc['key']})",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
        lost = proxy.drain(DRAIN_S)  # a stop lets the answers in flight end and be written
        summary = f"chat-mock record: {proxy.recorded} exchanges recorded into {out}"
        if lost:
            summary += f"; {lost} still in flight after {DRAIN_S:g} s, not recorded"
        print(summary, file=sys.stderr, flush=True)
    return 0


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _problem(args: argparse.Namespace, key: str, is_loopback: Any) -> str | None:
    parts = urlsplit(args.upstream)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--upstream {json.dumps(args.upstream)}: an http(s) URL is required"
    if not key:
        return f"--api-key (or ${ENV_KEY}) is required: the app's API key"
    if not is_loopback(args.host):
        return f"--host {args.host}: the recorder holds the app's key; it listens on a loopback address only"
    bounds = {
        "--max-events": args.max_events,
        "--max-body-kb": args.max_body_kb,
        "--max-stream-mb": args.max_stream_mb,
        "--max-file-mb": args.max_file_mb,
    }
    for name, value in bounds.items():
        if not 1 <= value <= 10_000_000:
            return f"{name} must be within 1..10000000, got {value}"
    if not 0 < args.read_timeout <= 3600:
        return f"--read-timeout must be within 0..3600 s, got {args.read_timeout}"
    return None
