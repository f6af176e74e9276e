"""The mock's streams for the golden requests are the golden streams, up to the ids and times it draws.

For every entry of fixtures/streams/manifest.yaml the mock gets the entry's request (with
`X-Mock-Fault: error_after=N` for the error stream) and its response body is compared with the
golden file frame by frame: the same frames, each written by one write, each one line of compact
JSON (UTF-8, no spaces) followed by a blank line, the same event sequence and pieces, the same
payloads. Only the generated fields (ids, conversation id of a new conversation, times) may differ,
and only consistently: each generated value the mock drew stands for exactly one golden value in
every frame. Key order is not compared. What the mock cannot reproduce is left out and said so:
CRLF (the mock writes LF; the CRLF golden is compared after normalising) and the keep-alive frames
that the golden places after a fixed piece (the mock's are timed, and none fall in these fast runs).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.mock.conftest import AUTH

STREAMS = Path(__file__).resolve().parents[2] / "fixtures" / "streams"
MANIFEST = yaml.safe_load((STREAMS / "manifest.yaml").read_text(encoding="utf-8"))["streams"]
PATHS = {"sendChatMessage": "/v1/chat-messages", "createChatCompletion": "/v1/chat/completions"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def compact(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def generated_fields(entry: dict[str, Any]) -> set[str]:
    """The payload fields whose values a server draws itself for this request."""
    if entry["operation"] == "createChatCompletion":
        return {"id", "created"}
    fields = {"task_id", "id", "message_id", "created_at"}
    if not entry["request"].get("conversation_id"):
        fields.add("conversation_id")
    return fields


def golden_frames(entry: dict[str, Any]) -> list[str]:
    """The golden file's frames (without their blank line), LF, without its placed keep-alives."""
    text = (STREAMS / entry["file"]).read_bytes().decode("utf-8").replace("\r\n", "\n")
    frames = text.split("\n\n")
    assert frames[-1] == ""
    keep_alive = entry.get("keep_alive", {}).get("frames", [])
    return [f for f in frames[:-1] if f not in keep_alive]


def mock_writes(app: Any, entry: dict[str, Any]) -> list[bytes]:
    headers = dict(AUTH)
    if entry.get("error"):
        headers["X-Mock-Fault"] = f"error_after={entry['error']['after']}"
    path = PATHS[entry["operation"]]
    resp = app.test_client().post(path, headers=headers, json=entry["request"], buffered=False)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    return list(resp.response)


def frame_payloads(frames: list[str]) -> list[Any]:
    """`data: ` + compact JSON per frame (or `[DONE]`) -> the parsed payloads; asserts the framing."""
    out: list[Any] = []
    for n, f in enumerate(frames):
        assert "\n" not in f and "\r" not in f, f"frame {n} is not one line: {f!r}"
        assert f.startswith("data: "), f"frame {n} is not a data frame: {f!r}"
        data = f.removeprefix("data: ")
        if data == "[DONE]":
            out.append(data)
            continue
        payload = json.loads(data)
        assert data == compact(payload), f"frame {n}: JSON is not compact UTF-8: {data!r}"
        out.append(payload)
    return out


def normalise(got: list[Any], want: list[Any], fields: set[str]) -> tuple[list[Any], dict[Any, Any]]:
    """Replace the mock's generated values by the golden's, through one consistent mapping."""
    mapping: dict[Any, Any] = {}
    for g, w in zip(got, want, strict=True):
        if not isinstance(g, dict) or not isinstance(w, dict):
            continue
        for field in fields & g.keys() & w.keys():
            if mapping.setdefault(g[field], w[field]) != w[field]:
                pytest.fail(f"the mock's {field} {g[field]!r} stands for two golden values")
    assert len(set(mapping.values())) == len(mapping), f"two generated values stand for one golden: {mapping}"
    swapped = [
        {k: mapping.get(v, v) if k in fields else v for k, v in g.items()} if isinstance(g, dict) else g
        for g in got
    ]
    return swapped, mapping


def check_generated(mapping: dict[Any, Any]) -> None:
    """The values the mock drew are fresh: times are now, ids are new UUIDs (or chatcmpl- ids)."""
    for drawn, golden in mapping.items():
        if isinstance(drawn, int):
            assert abs(drawn - time.time()) < 300, f"generated time {drawn} is not now"
        else:
            assert UUID.fullmatch(drawn) or re.fullmatch(r"chatcmpl-\w+", drawn), f"generated id {drawn!r}"
            assert drawn != golden, f"{drawn} is the golden's id, not a new one"


@pytest.mark.parametrize("entry", MANIFEST, ids=[s["file"] for s in MANIFEST])
def test_mock_stream_is_the_golden_stream_up_to_generated_ids(app, entry: dict[str, Any]) -> None:
    writes = mock_writes(app, entry)
    body = b"".join(writes).decode("utf-8")
    assert all(w.endswith(b"\n\n") and w.count(b"\n\n") == 1 for w in writes), "one whole frame per write"
    assert body.endswith("\n\n") and "\r" not in body
    got_frames, want_frames = body.split("\n\n")[:-1], golden_frames(entry)
    assert len(got_frames) == len(want_frames)
    got, want = frame_payloads(got_frames), frame_payloads(want_frames)
    fields = generated_fields(entry)
    swapped, mapping = normalise(got, want, fields)
    assert swapped == want
    check_generated(mapping)


def _fresh(frames: list[str]) -> list[str]:
    """The die-hard golden frames with new ids and a time of now, as a conformant server would write."""
    text = "\n\n".join(frames)
    for old in (
        "2b8a1e3c-7d4f-4c1a-9e0b-5f6a7b8c9d01",
        "8c0fbed8-e2f9-49ff-9f0e-15a35bdd0e25",
        "45701982-8118-4bc5-8e9b-64562b4555f2",
    ):
        text = text.replace(old, str(uuid.uuid4()))
    return text.replace("1705393001", str(int(time.time()))).split("\n\n")


def _edit(frames: list[str], n: int, **changes: Any) -> list[str]:
    payload = {**json.loads(frames[n].removeprefix("data: ")), **changes}
    return [*frames[:n], f"data: {compact(payload)}", *frames[n + 1 :]]


def _same_task_and_message_id(frames: list[str]) -> list[str]:
    message_id = json.loads(frames[0].removeprefix("data: "))["id"]
    return [_edit(frames, n, task_id=message_id)[n] for n in range(len(frames))]


BREAKERS = {
    "spaced JSON": lambda f: [f"data: {json.dumps(json.loads(f[0][6:]))}", *f[1:]],
    "task_id changes": lambda f: _edit(f, 5, task_id=str(uuid.uuid4())),
    "task_id is the message id": _same_task_and_message_id,
    "created_at changes": lambda f: _edit(f, 2, created_at=1),
    "piece altered": lambda f: _edit(f, 1, answer="Die"),
    "extra field": lambda f: _edit(f, 0, extra=1),
    "golden ids kept": lambda f: golden_frames(MANIFEST[0]),
}


@pytest.mark.parametrize("name", list(BREAKERS))
def test_comparison_catches_broken_variants(name: str) -> None:
    entry = MANIFEST[0]
    assert entry["file"] == "die-hard.chat.sse"
    want, fields = frame_payloads(golden_frames(entry)), generated_fields(entry)

    def passes(frames: list[str]) -> bool:
        try:
            swapped, mapping = normalise(frame_payloads(frames), want, fields)
            check_generated(mapping)
        except (AssertionError, pytest.fail.Exception):
            return False
        return swapped == want

    assert passes(_fresh(golden_frames(entry)))
    assert not passes(BREAKERS[name](_fresh(golden_frames(entry))))
