"""Hostile input: every refusal is a clear 400 (or 413) in the surface's envelope, never a 500, a
frozen worker or a user poisoned for good. Bodies go over a raw socket where a client library would
clean them up (lone surrogates, NaN, UTF-16, chunked bodies)."""

from __future__ import annotations

import json
import uuid

import pytest

from mock_server.limits import BOUNDS, MAX_JSON_DEPTH
from tests.mock.conftest import AUTH, KEY, SEEDED_USER, raw_exchange, split_response

CHAT = "/v1/chat-messages"
COMPLETIONS = "/v1/chat/completions"
CONVERSATIONAL = "/models/microsoft/DialoGPT-large"


def _post_raw(base: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> tuple:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    )
    status, resp_headers, payload = split_response(raw_exchange(base, head.encode() + body))
    return status, resp_headers, json.loads(payload)


def _chat_body(**fields: str) -> bytes:
    """A chat body with raw JSON text for some fields (so `\\ud83d` stays a lone escape)."""
    values = {"inputs": '{"book": "Die Hard"}', "query": '"hello"', "user": '"hostile-1"'}
    values.update(fields)
    return ("{" + ", ".join(f'"{k}": {v}' for k, v in values.items()) + "}").encode()


# ---------- lone surrogates ----------


@pytest.mark.parametrize(
    ("field", "raw", "named"),
    [
        ("inputs", '{"book": "\\ud83d"}', "inputs.book"),
        ("query", '"which \\udc00 movie"', "query"),
        ("user", '"hostile-1\\ud83d"', "user"),
        ("inputs", '{"\\ud83d": "x", "book": "y"}', "inputs"),
    ],
)
def test_a_lone_surrogate_is_a_400_and_poisons_nobody(live_server, field, raw, named) -> None:
    base = live_server()
    status, _, body = _post_raw(base, CHAT, _chat_body(**{field: raw}))
    assert status == 400, body
    assert body["code"] == "invalid_param" and body["message"].startswith(f"{named}: ")
    assert "surrogate" in body["message"]
    import requests

    for path in ("/v1/conversations", "/v1/messages"):
        params = {"user": "hostile-1"}
        if path == "/v1/messages":
            params["conversation_id"] = ""
        resp = requests.get(base + path, params=params, headers=AUTH, timeout=10)
        assert resp.status_code < 500, resp.text


def test_a_surrogate_pair_is_fine(live_server) -> None:
    base = live_server()
    status, _, body = _post_raw(base, CHAT, _chat_body(query='"a smile \\ud83d\\ude00"'))
    assert status == 200, body
    import requests

    history = requests.get(
        base + "/v1/messages",
        params={"user": "hostile-1", "conversation_id": body["conversation_id"]},
        headers=AUTH,
        timeout=10,
    )
    assert history.status_code == 200 and history.json()["data"][0]["query"] == "a smile \U0001f600"


@pytest.mark.parametrize(
    ("path", "body", "envelope"),
    [
        (COMPLETIONS, '{"model": "m", "messages": [{"role": "user", "content": "\\ud83d"}]}', "openai"),
        (CONVERSATIONAL, '{"inputs": {"text": "\\udfff"}}', "hf"),
    ],
)
def test_lone_surrogates_on_the_other_surfaces(live_server, path, body, envelope) -> None:
    status, _, payload = _post_raw(live_server(), path, body.encode())
    assert status == 400
    message = payload["error"]["message"] if envelope == "openai" else payload["error"]
    assert "surrogate" in str(message)


# ---------- JSON that Python's json module accepts and RFC 8259 does not ----------

DEEP = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (DEEP, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (DEEP_OBJECT, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (_chat_body(inputs='{"book": ' + "[" * 70 + "]" * 70 + "}"), "nested deeper"),
        (_chat_body(query="NaN"), "NaN"),
        (_chat_body(query="-Infinity"), "Infinity"),
        (_chat_body(inputs='{"book": 1e400}'), "out of range"),
        (json.dumps({"inputs": {}, "query": "hi", "user": "u"}).encode("utf-16"), "UTF-8"),
        (json.dumps({"inputs": {}, "query": "hi", "user": "u"}).encode("utf-16-le"), "UTF-8"),
        (b'{"inputs": {}, "query": "caf\xe9", "user": "u"}', "not valid UTF-8"),
    ],
)
@pytest.mark.parametrize("path", [CHAT, COMPLETIONS, CONVERSATIONAL])
def test_json_bodies_are_strict_on_every_surface(client, path, body, says) -> None:
    resp = client.post(path, data=body, headers={**AUTH, "Content-Type": "application/json"})
    status, payload = resp.status_code, resp.json
    assert status == 400, payload
    message = {CHAT: lambda p: p["message"], COMPLETIONS: lambda p: p["error"]["message"]}.get(
        path, lambda p: str(p["error"])
    )(payload)
    assert says in message


def test_a_utf8_byte_order_mark_is_ignored(client) -> None:
    body = b"\xef\xbb\xbf" + json.dumps({"inputs": {"book": "x"}, "query": "hi", "user": "bom"}).encode()
    resp = client.post(CHAT, data=body, headers={**AUTH, "Content-Type": "application/json"})
    assert resp.status_code == 200


@pytest.mark.parametrize("path", ["/_mock/faults", "/_mock/fixtures"])
@pytest.mark.parametrize(
    "body", [DEEP, b'{"fault": "status=500", "probability": NaN}', "{}".encode("utf-16")]
)
def test_admin_bodies_are_strict_too(client, path, body) -> None:
    resp = client.client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["code"] == "invalid_param", resp.json


def test_deep_yaml_fixtures_are_a_400(client) -> None:
    deep = "users:\n  - " + "[" * 2000 + "]" * 2000 + "\n"
    resp = client.client.post("/_mock/fixtures", data=deep, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 400 and "nested" in resp.json["message"]


# ---------- integers in the URL ----------


@pytest.mark.parametrize("limit", [" 5", "5 ", "1_0", "\u0665", "\uff15", "+5", "0x5"])
def test_query_integers_are_ascii_digits(client, limit) -> None:
    resp = client.get("/v1/conversations", query_string={"user": SEEDED_USER, "limit": limit}, headers=AUTH)
    assert resp.status_code == 400 and resp.json["message"].startswith("limit: ")
    journal = client.client.get("/_mock/journal", query_string={"limit": limit})
    assert journal.status_code == 400


# ---------- echoes ----------


def test_a_huge_value_is_not_echoed_whole(client) -> None:
    body = {"inputs": {"book": "x"}, "query": "hi", "user": "u" * 10_000_000}
    resp = client.post(CHAT, json=body, headers=AUTH)
    assert resp.status_code == 400
    assert len(resp.get_data()) < 2000 and "10000000 characters" in resp.json["message"]
    fault = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": "latency_ms=" + "9" * 7000})
    assert fault.status_code == 400 and len(fault.get_data()) < 2000


# ---------- numbers in faults and pacing headers ----------

NOT_FINITE = ["nan", "NaN", "inf", "-inf", "1e400", "Infinity", "1_0", "\u0665", "-1"]


@pytest.mark.parametrize("value", NOT_FINITE)
@pytest.mark.parametrize("directive", ["latency_ms", "stall_s", "estimated_time", "retry_after"])
def test_fault_numbers_are_finite_and_bounded(client, directive, value) -> None:
    fault = (
        f"status=503;{directive}={value}"
        if directive in {"estimated_time", "retry_after"}
        else (f"{directive}={value}")
    )
    resp = client.post(
        CONVERSATIONAL, json={"inputs": {"text": "hi"}}, headers={**AUTH, "X-Mock-Fault": fault}
    )
    assert resp.status_code == 400, resp.get_data()
    low, high = BOUNDS[directive]
    assert f"{directive} must be" in resp.json["error"] and f"{int(low)}..{int(high)}" in resp.json["error"]


@pytest.mark.parametrize(
    "fault",
    [
        "latency_ms=600001",
        "latency_ms=1e9",
        "stall_after=1;stall_s=3601",
        "retry_after=86401",
        "disconnect_after=1e3",
        "status=5e2",
    ],
)
def test_every_delay_has_an_upper_bound(client, fault) -> None:
    resp = client.get("/v1/parameters", headers={**AUTH, "X-Mock-Fault": fault})
    assert resp.status_code == 400 and "must be" in resp.json["message"], resp.json


@pytest.mark.parametrize("value", NOT_FINITE + ["600001"])
@pytest.mark.parametrize(
    "header", ["X-Mock-TTFT-Ms", "X-Mock-Token-Interval-Ms", "X-Mock-Jitter-Ms", "X-Mock-Seed"]
)
def test_pacing_headers_are_finite_and_bounded(client, header, value) -> None:
    if header == "X-Mock-TTFT-Ms" and value == "600001":
        value = "600000.5"
    body = {"inputs": {"book": "x"}, "query": "hi", "user": "pace", "response_mode": "streaming"}
    resp = client.post(CHAT, json=body, headers={**AUTH, header: value})
    if header == "X-Mock-Seed" and value == "600001":
        assert resp.status_code == 200  # a seed is any non-negative 63-bit integer
        return
    assert resp.status_code == 400, resp.get_data()
    assert resp.json["message"].startswith(f"{header} must be")


@pytest.mark.parametrize(
    "fault",
    [
        {"fault": "latency_ms=nan"},
        {"fault": {"latency_ms": "inf"}},
        {"fault": {"stall_after": 1, "stall_s": 1e300}},
        {"fault": {"status": 503, "estimated_time": -1}},
        {"fault": {"status": True}},
        {"fault": {"status": 503.5}},
    ],
)
def test_stored_faults_are_finite_and_bounded(client, fault) -> None:
    resp = client.client.post("/_mock/faults", json=fault)
    assert resp.status_code == 400 and "must be" in resp.json["message"], resp.json
    assert client.client.get("/_mock/faults").json["data"] == []


def test_stored_fault_with_raw_nan_or_overflow_is_refused(client) -> None:
    for raw in (b'{"fault": {"latency_ms": NaN}}', b'{"fault": {"latency_ms": 1e999}}'):
        resp = client.client.post("/_mock/faults", data=raw, headers={"Content-Type": "application/json"})
        assert resp.status_code == 400
    assert client.client.get("/_mock/faults").json["data"] == []


# ---------- the size cap ----------


def _chunked(body: bytes, piece: int = 65536) -> bytes:
    out = b""
    for i in range(0, len(body), piece):
        part = body[i : i + piece]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
    return out + b"0\r\n\r\n"


@pytest.mark.parametrize("path", [CHAT, "/_mock/faults"])
def test_a_chunked_body_over_the_cap_is_a_413(live_server, path) -> None:
    base = live_server(max_upload_mb=1)
    body = json.dumps({"inputs": {"book": "x" * (2 * 1024 * 1024)}, "query": "q", "user": "big"}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    try:
        raw = raw_exchange(base, head.encode() + _chunked(body), one_response=True)
    except (BrokenPipeError, ConnectionResetError):
        pytest.skip("the server closed before the whole body was sent")  # nothing to judge
    status, _, payload = split_response(raw)
    assert status == 413, payload[:200]
    assert json.loads(payload)["code"] == "request_entity_too_large"


# ---------- YAML aliases ----------


def test_yaml_aliases_are_fine_within_the_bound(client) -> None:
    doc = (
        "users:\n  - user: alias-user\n    conversations:\n"
        "      - &conv {id: 0b6c2ad5-3d1f-4f57-9d2b-2a4f1b7f9a11, name: first, inputs: &inputs {book: x},"
        " messages: []}\n"
        "      - {id: 9d7a4f0e-2f9c-4b1e-8f5a-6c3d2e1b0a99, name: second, inputs: *inputs, messages: []}\n"
    )
    resp = client.client.post("/_mock/fixtures", data=doc, headers={"Content-Type": "application/yaml"})
    assert resp.status_code == 200, resp.json


@pytest.mark.parametrize(
    "doc",
    ["a: &a [*a]\n", "a: &a {k: [1, *a]}\n", "a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"],
    ids=["recursive-list", "recursive-map", "small-but-fine"],
)
def test_recursive_yaml_aliases_are_a_400(client, doc) -> None:
    resp = client.client.post("/_mock/fixtures", data=doc, headers={"Content-Type": "application/yaml"})
    if doc.startswith("a: &a [x"):
        assert resp.status_code == 400 and "users" in resp.json["message"]  # no bomb: the users are missing
        return
    assert resp.status_code == 400 and "recursive alias" in resp.json["message"], resp.json


def test_alias_expansion_is_counted_on_the_node_graph() -> None:
    """The bound is found without expanding anything: 20 levels (9**20 nodes) are refused at once."""
    import yaml

    from mock_server.yamlload import AliasBomb, check_expansion
    from tests.mock.test_gunicorn_hardening import yaml_bomb

    # the root, its 3 keys, a (1 + 9 scalars), b (1 + 9 a's), c (1 + 9 b's)
    assert check_expansion(yaml.compose(yaml_bomb(3).decode())) == 1 + 3 + 10 + 91 + 820
    with pytest.raises(AliasBomb, match="more than"):
        check_expansion(yaml.compose(yaml_bomb(20).decode()))


# ---------- sizes and counts refused before the work they would cost ----------

FLOW_KEY = "app-mock-chatflow-key"  # the app that declares conversation variables


def _flow_variable(base: str) -> tuple[str, str]:
    """(conversation id, variable id) of a new chatflow conversation."""
    import requests

    auth = {"Authorization": f"Bearer {FLOW_KEY}"}
    body = {"inputs": {"book": "x"}, "query": "hi", "user": "sizes", "response_mode": "streaming"}
    resp = requests.post(base + CHAT, json=body, headers=auth, timeout=10)
    frames = [json.loads(line[5:]) for line in resp.text.splitlines() if '"conversation_id"' in line]
    conv = frames[0]["conversation_id"]
    page = requests.get(f"{base}/v1/conversations/{conv}/variables?user=sizes", headers=auth, timeout=10)
    return conv, page.json()["data"][0]["id"]


def test_a_huge_conversation_variable_is_refused_before_its_body_is_read(live_server) -> None:
    """A 60 MB value was stored (other requests waited 5.4 s): a variable's body is capped at
    VARIABLE_BODY_BYTES, and a larger one is refused from its Content-Length, before a byte is read."""
    import requests

    from mock_server.limits import OPERATION_BODY_BYTES

    cap = OPERATION_BODY_BYTES["updateConversationVariable"]
    base = live_server()
    conv, var_id = _flow_variable(base)
    path = f"/v1/conversations/{conv}/variables/{var_id}"
    auth = {"Authorization": f"Bearer {FLOW_KEY}"}
    half = {"value": "x" * (cap // 2), "user": "sizes"}
    fits = requests.put(base + path, json=half, headers=auth, timeout=10)
    assert fits.status_code == 200
    over = requests.put(base + path, json={"value": "x" * cap, "user": "sizes"}, headers=auth, timeout=10)
    assert over.status_code == 413 and f"{cap // 1024} KB" in over.json()["message"], over.text[:300]
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {FLOW_KEY}\r\n"
        "Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
    )  # the headers of a 60 MB body, and no body: the answer must not wait for it
    status, _, payload = split_response(raw_exchange(base, head.encode(), timeout=5, one_response=True))
    assert status == 413, payload[:300]


def test_a_list_far_over_its_max_items_is_refused_without_walking_it(client, monkeypatch) -> None:
    """`files` with 10,000 items took seconds to refuse: every item was validated (and every error
    sorted) before the list's own maxItems was reported. A top-level list over the contract's
    maxItems is now refused before the schema walk: the work no longer grows with the list."""
    import jsonschema

    walked = []
    keywords = jsonschema.Draft202012Validator.VALIDATORS
    required = keywords["required"]

    def counting(*args, **kwargs):  # each object the schema walk visits: the body, every file item...
        walked.append(1)
        return required(*args, **kwargs)

    monkeypatch.setitem(keywords, "required", counting)
    item = {"type": "image", "transfer_method": "local_file", "upload_file_id": str(uuid.uuid4())}
    body = {"inputs": {"book": "x"}, "query": "hi", "user": "many-files", "files": [item] * 10_000}
    resp = client.post(CHAT, json=body, headers=AUTH)
    assert resp.status_code == 400 and resp.json["message"].startswith("files: "), resp.json
    assert "is too long" in resp.json["message"] and len(resp.get_data()) < 2000
    assert len(walked) < 100, f"{len(walked)} objects validated for one refused body"


def _upload_raw(base: str, filename: bytes, parts: int = 0) -> tuple[int, dict]:
    boundary = b"hostileboundary"
    part = b'--%s\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n'
    body = b"".join(part % (boundary, i) for i in range(parts))
    body += b'--%s\r\nContent-Disposition: form-data; name="user"\r\n\r\nnames\r\n' % boundary
    body += (
        b'--%s\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n'
        b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n\r\n--%s--\r\n" % (boundary, filename, boundary)
    )
    head = (
        f"POST /v1/files/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary.decode()}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    status, _, payload = split_response(raw_exchange(base, head.encode() + body, one_response=True))
    return status, json.loads(payload)


@pytest.mark.parametrize(
    ("filename", "says"),
    [(b"poster\x00.png", "invalid characters"), (b"poster\x01.png", "invalid characters"),
     (b"p" * 10_000 + b".png", "255 characters"), (b"p" * 252 + b".png", None)],
    ids=["nul", "control", "10-kb", "256-characters"],
)  # fmt: skip
def test_file_names_with_control_characters_or_too_long_are_refused(live_server, filename, says) -> None:
    status, body = _upload_raw(live_server(), filename)
    if says is None:  # 256 characters is fine
        assert status == 400 and "255 characters" in body["message"], body
        return
    assert status == 400 and says in body["message"], body


def test_a_file_name_of_255_characters_is_fine(live_server) -> None:
    status, body = _upload_raw(live_server(), b"p" * 251 + b".png")
    assert status == 201 and len(body["name"]) == 255, body


def test_too_many_form_parts_is_a_400_naming_the_limit(live_server) -> None:
    status, body = _upload_raw(live_server(), b"poster.png", parts=10_000)
    assert status == 400 and body["code"] == "invalid_param", body
    assert "1000 parts" in body["message"], body
