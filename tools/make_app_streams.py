"""Record fixtures/streams/apps/: one golden stream per app mode, from the mock itself.

The `app_streams` entries of fixtures/streams/manifest.yaml name an app (fixtures/apps/<app>.yaml),
a request and the fixed ids and time of the answer. For each entry the mock (mock_server, on a
private store) answers the request with those ids and that time in place of the ones it draws;
everything it derives from them (thought, file, node and workflow run ids: uuid5 of the message
id) follows. The signed file URLs get a fixed timestamp, nonce and signature (a real one is only
valid for five minutes). The stream is written as the mock wrote it, and the blocking answer,
when the app's mode has one, pretty-printed:

    python tools/make_app_streams.py           # rewrite fixtures/streams/apps/
    python tools/make_app_streams.py --check   # exit 1 and name the files that differ

tests/mock/test_app_streams.py compares the running mock with these files up to the values a
server draws (ids, times), so a change of what the mock streams shows up as a diff to review.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import yaml

try:
    from tools import generated
except ImportError:  # run as a script (python tools/...): its own folder is on the path
    import generated  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
STREAMS_DIR = ROOT / "fixtures" / "streams"
APP_STREAMS_DIR = STREAMS_DIR / "apps"
MANIFEST_PATH = STREAMS_DIR / "manifest.yaml"
SIGNED_QUERY = re.compile(r"timestamp=\d+&nonce=[0-9a-f]+&sign=[0-9a-f]+")
FIXED_NONCE, FIXED_SIGN = "0" * 16, "0" * 64


def entries() -> list[dict[str, Any]]:
    return yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8")).get("app_streams") or []


def app_key(app: str) -> str:
    return yaml.safe_load((ROOT / "fixtures" / "apps" / f"{app}.yaml").read_text(encoding="utf-8"))["key"]


@contextmanager
def fixed_ids(ids: dict[str, Any]) -> Iterator[None]:
    """The mock's chat handler draws message id, task id and a new conversation's id, in that order
    (ids.random_ids, one call), and reads the clock once: give it the entry's."""
    drawn = iter([ids["message_id"], ids["task_id"], ids["conversation_id"]])
    clock = SimpleNamespace(time=lambda: float(ids["created_at"]), sleep=time.sleep)  # a stream yields
    with (
        mock.patch("mock_server.handlers.chat.random_ids", lambda count: [next(drawn) for _ in range(count)]),
        mock.patch("mock_server.handlers.chat.time", clock),
    ):
        yield


def _fix_urls(text: str, created_at: int) -> str:
    return SIGNED_QUERY.sub(f"timestamp={created_at}&nonce={FIXED_NONCE}&sign={FIXED_SIGN}", text)


def record(entry: dict[str, Any], workdir: Path) -> dict[str, bytes]:
    """The golden files of one entry, as the mock answers its request."""
    from mock_server import create_app

    def client(name: str) -> Any:  # a fresh store per request: the same ids, no clash
        return create_app({"store": str(workdir / f"{name}.sqlite3"), "journal_size": 0}).test_client()

    headers = {"Authorization": f"Bearer {app_key(entry['app'])}"}
    ids = entry["ids"]
    out: dict[str, bytes] = {}
    with fixed_ids(ids):
        resp = client(entry["file"]).post("/v1/chat-messages", headers=headers, json=entry["request"])
        body = resp.get_data(as_text=True)
    if resp.status_code != 200 or not resp.mimetype == "text/event-stream":
        raise RuntimeError(f"{entry['file']}: the mock answered {resp.status_code}: {body[:200]}")
    out[entry["file"]] = _fix_urls(body, ids["created_at"]).encode("utf-8")
    if entry.get("blocking"):
        blocking = {**entry["request"], "response_mode": "blocking"}
        with fixed_ids(ids):
            resp = client(entry["blocking"]).post("/v1/chat-messages", headers=headers, json=blocking)
        if resp.status_code != 200:
            raise RuntimeError(
                f"{entry['blocking']}: the mock answered {resp.status_code}: {resp.data[:200]!r}"
            )
        text = json.dumps(resp.get_json(), indent=2, ensure_ascii=False) + "\n"
        out[entry["blocking"]] = _fix_urls(text, ids["created_at"]).encode("utf-8")
    return out


def generate() -> dict[str, bytes]:
    """File name (under fixtures/streams/apps/) -> bytes, for every `app_streams` entry."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="app-streams-") as tmp:
        for entry in entries():
            files.update(record(entry, Path(tmp)))
    return files


def stale(files: dict[str, bytes]) -> list[str]:
    return generated.stale(files, APP_STREAMS_DIR)


def main(argv: list[str] | None = None) -> int:
    return generated.main(__doc__.splitlines()[0], generate, APP_STREAMS_DIR, argv)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
