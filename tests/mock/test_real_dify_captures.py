"""The mock answers as a real Dify 1.12.1 server does (issue 18, part 5).

`../shared/reference/real-dify-captures/` holds what a real Dify 1.12.1 answered to every Chat App
operation and its error cases (read its README). This test replays each scenario's captured
requests, in order, against the mock app of the same mode and compares each answer with the capture:

* the status, and the media type (a 204 has no body, so no type);
* the field names with their JSON types, recursively (strings that hold a UUID or an ISO date-time,
  naive or with an offset, are typed as such; a `null` in the capture matches any type, since it
  only shows the field is nullable; lists compare their items' merged shape, an empty list matches);
* the error `code`;
* for streams: every frame is data-only (`event: ping` aside), the grammar of the events that do not
  depend on the graph (`workflow_started`, the answer's pieces, `workflow_finished`, `message_end`,
  in order, repeats collapsed), and the shape of each event type, node events by their node type.

Ids that the capture's answers introduce are mapped, as they appear, to the ids the mock answered at
the same place, and later requests use the mock's ids (an id no answer introduced, such as an
unknown conversation, is sent as it is). Values are never compared: answers, times and names differ.

The captures are read where they lie, never copied into the project; without them the test skips
with the reason. The only allowed differences are ALLOWED below, each with its reason; an allowance
that matches nothing fails too, so the list stays short and true. SPEC_NOTES (K1) says the same.
Run `python -m tests.mock.test_real_dify_captures` for the counts of a full comparison.
"""

from __future__ import annotations

import fnmatch
import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from mock_server import create_app
from tests.contract import parse_sse
from tests.mock.conftest import fixtures_with
from tests.shared_reference import SHARED_REFERENCE, shared_reference

CAPTURES = "real-dify-captures"
CAPTURES_IN = SHARED_REFERENCE / CAPTURES
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
UUID_ANYWHERE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NAIVE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$")
OFFSET_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# Events whose number, order and kind a workflow's graph decides (the captured app runs Start ->
# Answer; the mock's chatflow runs five nodes and an iteration): left out of the grammar and compared
# by their shape only, node events paired by node type.
GRAPH_EVENTS = re.compile(r"^(node|iteration|loop)_")
# How the captures' README says the redacted keys were sent (case -> Authorization header).
SENT_KEY = {"auth_bad_key": "Bearer app-not-a-real-key-000000", "auth_no_bearer": "{key}"}


@dataclass(frozen=True)
class Scenario:
    """A folder of captures and the mock app that answers it, configured as the captured app was."""

    folder: str
    key: str  # the mock app's API key
    app: str  # fixtures/apps/<app>.yaml
    parameters: dict[str, Any] = field(default_factory=dict)  # laid over the app's /parameters


SCENARIOS = (
    # The captured chatflow has suggested questions, speech to text and text to speech off.
    Scenario(
        "chatflow",
        "app-mock-chatflow-key",
        "chatflow",
        {
            "suggested_questions_after_answer": {"enabled": False},
            "speech_to_text": {"enabled": False},
            "text_to_speech": {"enabled": False, "voice": "", "language": ""},
        },
    ),
    Scenario("chatflow-features-on", "app-mock-chatflow-key", "chatflow"),  # the mock's have them on
    Scenario("chat-app", "app-mock-dev-key", "chat"),
    Scenario("agent-app", "app-mock-agent-key", "agent"),
)


class Difference(NamedTuple):
    kind: str  # status, media-type, code, missing, extra, type, null, grammar, frame, *-event
    where: str  # a dotted path in the body, or the event (and node type) it is in
    detail: str

    def __str__(self) -> str:
        return f"{self.kind} {self.where}: {self.detail}"


class Allowance(NamedTuple):
    exchanges: str  # a glob over "<folder>/<file stem>"
    kinds: str  # a regular expression over Difference.kind
    where: str  # a regular expression, matched at the start of Difference.where
    reason: str


_ANY = "status|media-type|code"
_NEEDS_MODEL = (
    "needs a model: the captured server has no model provider, so it fails (400 `invalid_param` from the "
    "plugin daemon, a 500 for suggestions) where the mock answers"
)
# The only differences between the mock and the captures that are allowed, each with its reason.
ALLOWED: tuple[Allowance, ...] = (
    Allowance(
        "chatflow/00[56]-*",
        "extra-event",
        r"(node_started|node_finished|iteration_\w+)",
        "the graph: the captured chatflow is Start -> Answer; the mock's also runs a knowledge retrieval, "
        "an iteration over a template node and the LLM node that streams the answer",
    ),
    Allowance(
        "chatflow/08[367]-*",
        "status",
        "",
        "Dify defect not copied: delete ignores the owner and answers 204 for any id (another user's, "
        "a deleted one, an unknown one); the mock answers 404",
    ),
    Allowance(
        "chatflow/047-*", _ANY, "", "Dify defect not copied: the variable_name filter is a 500 on PostgreSQL"
    ),
    Allowance(
        "chatflow-features-on/01[23]-*",
        _ANY,
        "",
        "Dify defects not copied: a `user` over 255 characters and a JSON array body on delete are 500s; "
        "the mock answers 400 invalid_param",
    ),
    Allowance(
        "chatflow-features-on/009-*",
        _ANY,
        "",
        "Dify defect not copied: text to speech of an unknown message is 200 null; the mock answers 404 (F7)",
    ),
    Allowance(
        "chatflow/064-*",
        "media-type",
        "",
        "GET /end-users/{id} came after 1.12.1: there it is Flask's HTML 404; the mock serves the newer "
        "operation and answers an unknown end user in the JSON envelope (404 end_user_not_found, N5)",
    ),
    Allowance(
        "chatflow/082-*",
        "media-type",
        "",
        "an unknown URL: Flask's HTML 404 on Dify, the JSON envelope on the mock (one error shape to parse)",
    ),
    Allowance(
        "chatflow-features-on/011-*",
        _ANY,
        "",
        "the captured server could not fetch the remote URL (no internet); the mock never fetches one (F4)",
    ),
    Allowance("chatflow-features-on/00[2378]-*", _ANY, "", _NEEDS_MODEL),
    Allowance("chat-app/00[2367]-*", _ANY, "", _NEEDS_MODEL),
    Allowance("agent-app/00[367]-*", _ANY, "", _NEEDS_MODEL),
    Allowance(
        "chatflow*/00[01]-parameters",
        "extra",
        r"file_upload\.image$",
        "configuration: the mock's apps share the reference app's file settings, which keep the older "
        "`image` form chat apps send; the captured chatflow's editor wrote the newer form alone",
    ),
    Allowance(
        "*-app/000-parameters",
        "extra|missing",
        r"(file_upload\.|sensitive_word_avoidance\.|user_input_form\[\]\.(select|paragraph)$)",
        "configuration: the captured chat and agent apps have uploads and moderation off and a one-variable "
        "form; the mock's have uploads and output moderation on (F4, B15) and the four-variable form",
    ),
)


# ---------------------------------------------------------------------------- reading the captures


def captures_dir() -> Path | None:
    return shared_reference(CAPTURES)


def capture_names() -> list[str]:
    """`<folder>/<file stem>` of every capture of every scenario, in the scenario's order."""
    root = captures_dir()
    if root is None:
        return []
    return [f"{s.folder}/{p.stem}" for s in SCENARIOS for p in sorted((root / s.folder).glob("*.json"))]


def load(name: str) -> dict[str, Any]:
    root = captures_dir()
    assert root is not None
    return json.loads((root / f"{name}.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------- the mock apps


def fixtures_for(scenario: Scenario, into: Path) -> Path:
    """A copy of fixtures/ whose scenario app has the captured app's switches."""

    def configure(doc: dict[str, Any]) -> None:
        doc.setdefault("parameters", {}).update(scenario.parameters)

    return fixtures_with(into, configure, scenario.app)


# ---------------------------------------------------------------------------- replaying a request


def _mapped(value: Any, ids: dict[str, str]) -> Any:
    """`value` with every id the capture's answers introduced replaced by the mock's."""
    if isinstance(value, str):
        return UUID_ANYWHERE.sub(lambda m: ids.get(m.group(0), m.group(0)), value)
    if isinstance(value, list):
        return [_mapped(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _mapped(v, ids) for k, v in value.items()}
    return value


def replay(client: Any, scenario: Scenario, case: str, request: dict[str, Any], ids: dict[str, str]) -> Any:
    """Send the captured request to the mock as the capture's client sent it (requests' rules: form
    fields with files are multipart, without files urlencoded; a string body goes as it is)."""
    headers = {k: v for k, v in request.get("headers", {}).items() if k != "Authorization"}
    auth = request.get("headers", {}).get("Authorization")
    if auth is not None:
        headers["Authorization"] = SENT_KEY.get(case, "Bearer {key}").format(key=scenario.key)
    query = {k: str(v) for k, v in _mapped(request.get("query") or {}, ids).items()}
    kwargs: dict[str, Any] = {"headers": headers, "query_string": query}
    if "json" in request:
        kwargs["json"] = _mapped(request["json"], ids)
    form = request.get("form")
    if isinstance(form, str):
        kwargs["data"] = form
    elif form is not None or request.get("files"):
        data: dict[str, Any] = dict(_mapped(form or {}, ids))
        for part, meta in (request.get("files") or {}).items():
            data[part] = (io.BytesIO(b"\0" * int(meta["bytes"])), meta["filename"], meta["content_type"])
        kwargs["data"] = data
        if not request.get("files"):
            kwargs["content_type"] = "application/x-www-form-urlencoded"
    return client.open("/v1" + _mapped(request["path"], ids), method=request["method"], **kwargs)


# ---------------------------------------------------------------------------- shapes


def type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        if UUID.match(value):
            return "string(uuid)"
        if NAIVE_TIME.match(value):
            return "string(naive date-time)"
        if OFFSET_TIME.match(value):
            return "string(date-time)"
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


Shape = dict[str, Any]  # JSON type -> the object's keys' shapes, the array items' shape, or None


def shape(value: Any) -> Shape:
    kind = type_of(value)
    if kind == "object":
        return {kind: {k: shape(v) for k, v in value.items()}}
    if kind == "array":
        items: Shape | None = None
        for item in value:
            items = merge(items, shape(item))
        return {kind: items}
    return {kind: None}


def merge(a: Shape | None, b: Shape | None) -> Shape | None:
    if a is None or b is None:
        return a if b is None else b
    out = dict(a)
    for kind, sub in b.items():
        if kind not in out:
            out[kind] = sub
        elif kind == "object":
            keys = dict(out[kind])
            for k, s in sub.items():
                keys[k] = merge(keys.get(k), s)
            out[kind] = keys
        elif kind == "array":
            out[kind] = merge(out[kind], sub)
    return out


def compare_shapes(real: Shape, mock: Shape, where: str, out: list[Difference]) -> None:
    real_kinds, mock_kinds = set(real) - {"null"}, set(mock) - {"null"}
    if not real_kinds:
        return  # the capture shows null: the field is nullable, any type is legal
    if not mock_kinds:
        out.append(Difference("null", where or "body", f"capture {sorted(real_kinds)}, mock null"))
        return
    if real_kinds != mock_kinds:
        detail = f"capture {sorted(real_kinds)}, mock {sorted(mock_kinds)}"
        out.append(Difference("type", where or "body", detail))
    prefix = f"{where}." if where else ""
    for kind in real_kinds & mock_kinds:
        if kind == "object":
            real_keys, mock_keys = real[kind], mock[kind]
            for k in sorted(real_keys.keys() - mock_keys.keys()):
                out.append(Difference("missing", prefix + k, "in the capture, not in the mock"))
            for k in sorted(mock_keys.keys() - real_keys.keys()):
                out.append(Difference("extra", prefix + k, "in the mock, not in the capture"))
            for k in sorted(real_keys.keys() & mock_keys.keys()):
                compare_shapes(real_keys[k], mock_keys[k], prefix + k, out)
        elif kind == "array" and real[kind] is not None and mock[kind] is not None:
            compare_shapes(real[kind], mock[kind], f"{where}[]", out)


# ---------------------------------------------------------------------------- ids


def learn_ids(real: Any, mock: Any, ids: dict[str, str]) -> None:
    """Map each id of the capture's answer to the mock's at the same place (first sight wins)."""
    if isinstance(real, str) and isinstance(mock, str):
        if UUID.match(real) and real not in ids:
            ids[real] = mock
    elif isinstance(real, dict) and isinstance(mock, dict):
        for k in real.keys() & mock.keys():
            learn_ids(real[k], mock[k], ids)
    elif isinstance(real, list) and isinstance(mock, list):
        for r, m in zip(real, mock, strict=False):
            learn_ids(r, m, ids)


# ---------------------------------------------------------------------------- streams


def event_key(event: dict[str, Any]) -> str:
    """An event's type, with the node type for node events (`node_started[start]`)."""
    name = str(event.get("event"))
    data = event.get("data")
    if GRAPH_EVENTS.match(name) and isinstance(data, dict) and "node_type" in data:
        return f"{name}[{data['node_type']}]"
    return name


def grammar(events: list[dict[str, Any]]) -> list[str]:
    """The events a graph does not decide, in order, each run of one type collapsed."""
    out: list[str] = []
    for event in events:
        name = str(event.get("event"))
        if not GRAPH_EVENTS.match(name) and (not out or out[-1] != name):
            out.append(name)
    return out


def mock_events(text: str, out: list[Difference]) -> list[dict[str, Any]]:
    """The JSON events of the mock's stream; a frame that is not data-only is a difference."""
    events = []
    for frame in parse_sse(text):
        if "data" not in frame:
            if frame.get("event") != "ping":
                out.append(Difference("frame", "stream", f"a frame without data: {frame}"))
            continue
        if set(frame) != {"data"}:
            out.append(Difference("frame", "stream", f"fields beside data: {sorted(set(frame) - {'data'})}"))
        events.append(json.loads(frame["data"]))
    return events


def compare_streams(real: list[dict[str, Any]], mock: list[dict[str, Any]], out: list[Difference]) -> None:
    if grammar(real) != grammar(mock):
        out.append(Difference("grammar", "stream", f"capture {grammar(real)}, mock {grammar(mock)}"))
    groups: dict[str, tuple[Shape | None, Shape | None]] = {}
    for side, events in ((0, real), (1, mock)):
        for event in events:
            key = event_key(event)
            pair = list(groups.get(key, (None, None)))
            pair[side] = merge(pair[side], shape(event))
            groups[key] = (pair[0], pair[1])
    for key, (real_shape, mock_shape) in groups.items():
        if real_shape is None:
            out.append(Difference("extra-event", key, "the mock sends it, the capture has none"))
        elif mock_shape is None:
            out.append(Difference("missing-event", key, "the capture has it, the mock sends none"))
        else:
            compare_shapes(real_shape, mock_shape, key, out)


def pair_events(real: list[dict[str, Any]], mock: list[dict[str, Any]]) -> Iterator[tuple[Any, Any]]:
    """Events of one key, in order, paired for learning ids."""
    by_key: dict[str, list[Any]] = {}
    for event in mock:
        by_key.setdefault(event_key(event), []).append(event)
    seen: dict[str, int] = {}
    for event in real:
        key = event_key(event)
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n < len(by_key.get(key, [])):
            yield event, by_key[key][n]


# ---------------------------------------------------------------------------- one exchange


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def compare_exchange(capture: dict[str, Any], resp: Any, ids: dict[str, str]) -> list[Difference]:
    """The differences of the mock's answer `resp` from the capture's; learns the answer's ids."""
    real = capture["response"]
    out: list[Difference] = []
    if resp.status_code != real["status"]:
        out.append(Difference("status", "", f"capture {real['status']}, mock {resp.status_code}"))
    real_type = media_type(real.get("headers", {}).get("Content-Type"))
    if real["status"] != 204 and media_type(resp.headers.get("Content-Type")) != real_type:
        out.append(Difference("media-type", "", f"capture {real_type}, mock {media_type(resp.content_type)}"))
    text = resp.get_data().decode("utf-8", "replace")  # a binary answer is not JSON
    if "sse" in real:
        events = mock_events(text, out)
        real_events = [e["data"] for e in real["sse"] if isinstance(e.get("data"), dict)]
        for r, m in pair_events(real_events, events):
            learn_ids(r, m, ids)
        compare_streams(real_events, events, out)
        return out
    if real.get("json") is None or real["status"] == 204:
        return out
    if resp.status_code != real["status"]:
        return out  # one cause, one finding: the fields of another status are not compared
    try:
        body = json.loads(text)
    except ValueError:
        out.append(Difference("type", "body", "capture JSON, mock not JSON"))
        return out
    learn_ids(real["json"], body, ids)
    if real["status"] >= 400 and isinstance(real["json"], dict) and "code" in real["json"]:
        mock_code = body.get("code") if isinstance(body, dict) else None
        if mock_code != real["json"]["code"]:
            out.append(Difference("code", "code", f"capture {real['json']['code']!r}, mock {mock_code!r}"))
    compare_shapes(shape(real["json"]), shape(body), "", out)
    return out


# ---------------------------------------------------------------------------- a whole scenario


@dataclass
class Outcome:
    differences: list[Difference]
    allowed: list[tuple[Difference, Allowance]]
    unexpected: list[Difference]


def allowance_for(name: str, difference: Difference) -> Allowance | None:
    for allowance in ALLOWED:
        if (
            fnmatch.fnmatchcase(name, allowance.exchanges)
            and re.fullmatch(allowance.kinds, difference.kind)
            and re.match(allowance.where, difference.where)
        ):
            return allowance
    return None


def run_scenario(scenario: Scenario, workdir: Path) -> dict[str, Outcome]:
    """Replay a scenario's captures in order against a fresh mock; the outcome of each exchange."""
    root = captures_dir()
    assert root is not None
    fixtures = fixtures_for(scenario, workdir)
    app = create_app({"store": str(workdir / "store.sqlite3"), "fixtures_dir": str(fixtures)})
    client = app.test_client()
    ids: dict[str, str] = {}
    outcomes = {}
    for path in sorted((root / scenario.folder).glob("*.json")):
        name = f"{scenario.folder}/{path.stem}"
        capture = json.loads(path.read_text(encoding="utf-8"))
        resp = replay(client, scenario, str(capture.get("case", "")), capture["request"], ids)
        diffs = compare_exchange(capture, resp, ids)
        allowed, unexpected = [], []
        for d in diffs:
            allowance = allowance_for(name, d)
            if allowance is None:
                unexpected.append(d)
            else:
                allowed.append((d, allowance))
        outcomes[name] = Outcome(diffs, allowed, unexpected)
    return outcomes


def run_all(workdir: Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for n, scenario in enumerate(SCENARIOS):
        where = workdir / f"s{n}"
        where.mkdir(parents=True, exist_ok=True)
        outcomes.update(run_scenario(scenario, where))
    return outcomes


# ---------------------------------------------------------------------------- the tests

NAMES = capture_names()
SKIP = f"no {CAPTURES_IN} beside the checkout or above it: the real Dify captures are absent"


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    if captures_dir() is None:
        pytest.skip(SKIP)
    return run_all(tmp_path_factory.mktemp("captures"))


@pytest.mark.parametrize("name", NAMES or [pytest.param("absent", marks=pytest.mark.skip(reason=SKIP))])
def test_the_mock_answers_as_the_capture(outcomes: dict[str, Outcome], name: str) -> None:
    unexpected = outcomes[name].unexpected
    assert not unexpected, f"{name}: the mock differs from real Dify:\n" + "\n".join(map(str, unexpected))


@pytest.mark.skipif(not NAMES, reason=SKIP)
def test_every_allowance_is_used(outcomes: dict[str, Outcome]) -> None:
    """An allowance that matches no difference is stale: the list stays short and true."""
    used = {a for o in outcomes.values() for _d, a in o.allowed}
    stale = [a for a in ALLOWED if a not in used]
    names = [f"{a.exchanges} {a.kinds}" for a in stale]
    assert not stale, "allowances that match nothing:\n" + "\n".join(names)


@pytest.mark.skipif(not NAMES, reason=SKIP)
def test_every_scenario_was_replayed(outcomes: dict[str, Outcome]) -> None:
    assert set(outcomes) == set(NAMES)
    assert {n.split("/")[0] for n in outcomes} == {s.folder for s in SCENARIOS}


class _Answer:
    """A response as compare_exchange reads it, built from a capture's answer (to break on purpose)."""

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status_code, self.content_type, self._body = status, content_type, body
        self.headers = {"Content-Type": content_type}

    def get_data(self) -> bytes:
        return self._body


def _as_answer(capture: dict[str, Any], body: Any = None, stream: str | None = None) -> _Answer:
    real = capture["response"]
    if stream is not None:
        return _Answer(real["status"], "text/event-stream", stream.encode())
    return _Answer(real["status"], "application/json", json.dumps(body).encode())


def _frames(events: list[dict[str, Any]]) -> str:
    return "".join(f"data: {json.dumps(e)}\n\n" for e in events)


@pytest.mark.skipif(not NAMES, reason=SKIP)
def test_the_comparison_sees_a_field_left_out_or_retyped() -> None:
    """The test can fail: a capture's own answer matches it, the same answer with a field left out,
    a field of another type or another error code does not."""
    capture = load("chatflow/004-chat_blocking")
    body = capture["response"]["json"]
    assert compare_exchange(capture, _as_answer(capture, body), {}) == []
    usage = {k: v for k, v in body["metadata"]["usage"].items() if k != "time_to_first_token"}
    left_out = {**body, "metadata": {**body["metadata"], "usage": usage}}
    assert [str(d) for d in compare_exchange(capture, _as_answer(capture, left_out), {})] == [
        "missing metadata.usage.time_to_first_token: in the capture, not in the mock"
    ]
    retyped = {**body, "created_at": str(body["created_at"])}
    assert [d.kind for d in compare_exchange(capture, _as_answer(capture, retyped), {})] == ["type"]
    error = load("chatflow/054-file_upload_missing_file")
    other_code = {**error["response"]["json"], "code": "unsupported_media_type"}
    assert [d.kind for d in compare_exchange(error, _as_answer(error, other_code), {})] == ["code"]


@pytest.mark.skipif(not NAMES, reason=SKIP)
def test_the_comparison_sees_a_stream_out_of_grammar_or_framed_otherwise() -> None:
    capture = load("chatflow/005-chat_streaming_new")
    events = [e["data"] for e in capture["response"]["sse"]]
    assert compare_exchange(capture, _as_answer(capture, stream=_frames(events)), {}) == []
    no_end = _frames([e for e in events if e["event"] != "message_end"])
    kinds = [d.kind for d in compare_exchange(capture, _as_answer(capture, stream=no_end), {})]
    assert kinds == ["grammar", "missing-event"]
    named = _frames(events).replace("data: ", "event: message\ndata: ", 1)
    assert [d.kind for d in compare_exchange(capture, _as_answer(capture, stream=named), {})] == ["frame"]


def summary(outcomes: dict[str, Outcome]) -> str:
    lines = []
    for scenario in SCENARIOS:
        mine = {n: o for n, o in outcomes.items() if n.startswith(scenario.folder + "/")}
        exact = sum(1 for o in mine.values() if not o.differences)
        allowed = sum(1 for o in mine.values() if o.differences and not o.unexpected)
        lines.append(
            f"{scenario.folder}: {len(mine)} exchanges, {exact} the same, {allowed} with allowed differences "
            f"only, {len(mine) - exact - allowed} with unexpected differences"
        )
        for name, o in mine.items():
            for d in o.unexpected:
                lines.append(f"  {name}: {d}")
    return "\n".join(lines)


if __name__ == "__main__":  # python -m tests.mock.test_real_dify_captures [workdir]
    import tempfile

    if captures_dir() is None:
        sys.exit(SKIP)
    with tempfile.TemporaryDirectory() as tmp:
        print(summary(run_all(Path(sys.argv[1] if len(sys.argv) > 1 else tmp))))
