"""The golden streams of the app modes (fixtures/streams/apps/) are what the mock streams.

They are recorded from the mock (tools/make_app_streams.py) with fixed ids and time; here they are
(1) regenerated and compared byte for byte, (2) validated event by event against the contract and
the order its stream roles allow, their blocking twins agreeing, and (3) compared with what the
running mock streams with the ids and times it draws: the same frames and values, where each drawn
value (an id, a time, a signed URL's query) stands for exactly one golden value throughout.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest

from mock_server import ids
from tests.contract import content_schema_errors, parse_sse, resolve
from tests.mock.test_app_modes import answer_of, order_problems
from tools import make_app_streams

ENTRIES = make_app_streams.entries()
NAMES = [e["file"] for e in ENTRIES]
DIR = make_app_streams.APP_STREAMS_DIR
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME_FIELDS = {"created_at", "finished_at"}
# ids an app's fixture fixes (its workflow's id), and those derived from an app's key and the
# request's user (the app's id, the end user's id: a chatflow's `sys.app_id`, `created_by`): the same
# in every run, not drawn
FIXED_IDS = {
    i
    for p in (make_app_streams.ROOT / "fixtures" / "apps").glob("*.yaml")
    for i in UUID.findall(p.read_text())
} | {
    derived
    for e in ENTRIES
    for derived in (
        ids.app_id(make_app_streams.app_key(e["app"])),
        ids.end_user_id(make_app_streams.app_key(e["app"]), e["request"]["user"]),
    )
}
SIGNED = re.compile(r"^(?P<path>[^?]*)\?timestamp=(?P<ts>\d+)&nonce=[0-9a-f]+&sign=[0-9a-f]+$")


def golden_events(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(e["data"]) for e in parse_sse((DIR / entry["file"]).read_text(encoding="utf-8"))]


def item_schema() -> dict[str, Any]:
    from tests.contract import contract

    op = contract()["paths"]["/chat-messages"]["post"]
    return resolve(op["responses"]["200"])["content"]["text/event-stream"]["itemSchema"]


def test_every_mode_has_a_golden_stream() -> None:
    import yaml

    modes = {
        yaml.safe_load((make_app_streams.ROOT / "fixtures" / "apps" / f"{e['app']}.yaml").read_text())["app"][
            "mode"
        ]
        for e in ENTRIES
    }
    assert modes == {"chat", "agent-chat", "advanced-chat"}
    names = {e["file"] for e in ENTRIES} | {e["blocking"] for e in ENTRIES if e["blocking"]}
    assert names == {p.name for p in DIR.iterdir()}
    readme = (make_app_streams.STREAMS_DIR / "README.md").read_text(encoding="utf-8")
    assert all(f"`apps/{name}`" in readme for name in names), "README.md describes every file"


def test_the_golden_streams_are_what_the_mock_records(capsys: pytest.CaptureFixture[str]) -> None:
    assert make_app_streams.stale(make_app_streams.generate()) == []
    assert make_app_streams.main(["--check"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("entry", ENTRIES, ids=NAMES)
def test_golden_stream_follows_the_contract(entry: dict[str, Any]) -> None:
    raw = (DIR / entry["file"]).read_text(encoding="utf-8")
    items = parse_sse(raw)
    schema = item_schema()
    assert [e for i in items for e in content_schema_errors(i, schema)] == []
    assert all(f.startswith("data: ") and "\n" not in f for f in raw.split("\n\n")[:-1])
    events = golden_events(entry)
    assert order_problems(events) == []
    ids = entry["ids"]
    assert {(e["message_id"], e["conversation_id"], e["created_at"]) for e in events} == {
        (ids["message_id"], ids["conversation_id"], ids["created_at"])
    }
    if entry["blocking"]:
        blocking = json.loads((DIR / entry["blocking"]).read_text(encoding="utf-8"))
        assert blocking["answer"] == answer_of(events)
        assert (blocking["id"], blocking["task_id"]) == (ids["message_id"], ids["task_id"])


class Mapping:
    """Drawn value -> golden value, one to one."""

    def __init__(self) -> None:
        self.forward: dict[Any, Any] = {}

    def bind(self, got: Any, want: Any, where: str) -> None:
        if self.forward.setdefault(got, want) != want:
            raise AssertionError(f"{where}: {got!r} stands for two golden values")
        if list(self.forward.values()).count(want) > 1:
            raise AssertionError(f"{where}: two drawn values stand for {want!r}")


def same_up_to_drawn(got: Any, want: Any, mapping: Mapping, where: str = "") -> None:
    """`got` is `want` but for drawn ids (UUIDs), times and signed URL queries, mapped one to one."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for key in want:
            same_up_to_drawn(got[key], want[key], mapping, f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} != {want!r}"
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            same_up_to_drawn(g, w, mapping, f"{where}[{n}]")
    elif got == want and not (isinstance(want, str) and UUID.fullmatch(want) and want not in FIXED_IDS):
        return
    elif isinstance(want, str) and UUID.fullmatch(want):
        assert isinstance(got, str) and UUID.fullmatch(got) and got != want, f"{where}: {got!r} is no new id"
        mapping.bind(got, want, where)
    elif isinstance(want, str) and SIGNED.match(want):
        g, w = SIGNED.match(got or ""), SIGNED.match(want)
        assert g and w, f"{where}: {got!r} is not a signed URL"
        assert abs(int(g["ts"]) - time.time()) < 300, f"{where}: the signature's time is not now"
        same_up_to_drawn(_uuids_of(g["path"]), _uuids_of(w["path"]), mapping, f"{where} (path)")
        assert UUID.sub("-", g["path"]) == UUID.sub("-", w["path"]), f"{where}: {got!r} vs {want!r}"
    elif where.rsplit(".", 1)[-1] in TIME_FIELDS and isinstance(got, int):
        assert abs(got - time.time()) < 300, f"{where}: drawn time {got} is not now"
        mapping.bind(("time", got), ("time", want), where)
    else:
        raise AssertionError(f"{where}: {got!r} != {want!r}")


def _uuids_of(text: str) -> list[str]:
    return UUID.findall(text)


def mock_events(client: Any, entry: dict[str, Any]) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {make_app_streams.app_key(entry['app'])}"}
    resp = client.post("/v1/chat-messages", headers=headers, json=entry["request"])
    assert resp.status_code == 200
    return [json.loads(e["data"]) for e in parse_sse(resp.get_data(as_text=True))]


@pytest.mark.parametrize("entry", ENTRIES, ids=NAMES)
def test_the_mock_streams_the_golden_stream_up_to_drawn_values(client, entry: dict[str, Any]) -> None:
    got, want = mock_events(client, entry), golden_events(entry)
    assert [e["event"] for e in got] == [e["event"] for e in want]
    same_up_to_drawn(got, want, Mapping())


def _fresh(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A golden stream with new ids and times of now, as a correct server would write it."""
    text = json.dumps(events)
    for old in set(UUID.findall(text)):
        text = text.replace(old, str(uuid.uuid4()))
    text = re.sub(r'"(created_at|finished_at)": 17600\d{5}', lambda m: f'"{m[1]}": {int(time.time())}', text)
    return json.loads(re.sub(r"timestamp=17600\d{5}", f"timestamp={int(time.time())}", text))


def _edit(events: list[dict[str, Any]], n: int, **changes: Any) -> list[dict[str, Any]]:
    return [*events[:n], {**events[n], **changes}, *events[n + 1 :]]


BREAKERS = {
    "a node id changes mid-run": lambda e: [
        {**x, "data": {**x["data"], "id": str(uuid.uuid4())}} if x["event"] == "node_finished" else x
        for x in e
    ],
    "two events share a drawn id": lambda e: _edit(e, 1, workflow_run_id=e[0]["message_id"]),
    "a piece altered": lambda e: [{**x, "answer": "!"} if x["event"] == "message" else x for x in e],
    "an old time": lambda e: _edit(e, 0, created_at=1),
    "the golden ids kept": lambda e: golden_events(ENTRIES[3]),
    "a field left out": lambda e: [{k: v for k, v in x.items() if k != "task_id"} for x in e],
}


@pytest.mark.parametrize("name", list(BREAKERS))
def test_the_comparison_catches_broken_variants(name: str) -> None:
    entry = ENTRIES[3]
    assert entry["app"] == "chatflow"
    want = golden_events(entry)
    same_up_to_drawn(_fresh(want), want, Mapping())
    with pytest.raises(AssertionError):
        same_up_to_drawn(BREAKERS[name](_fresh(want)), want, Mapping())
