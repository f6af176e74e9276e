"""What the chat POST path computes once instead of per request gives what it computed before."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import pytest
from werkzeug.exceptions import RequestEntityTooLarge

from mock_server import engine as engine_module
from mock_server import pid
from mock_server.config import MockConfig
from mock_server.contract import Contract
from mock_server.engine import Engine
from mock_server.ids import random_id, random_ids
from mock_server.limits import BODY_KEY, InputError, read_body, too_large


def test_random_ids_are_version_4_uuids_as_text() -> None:
    ids = [random_id() for _ in range(1000)] + [i for _ in range(250) for i in random_ids(4)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower-case, dashed: what str(uuid.uuid4()) gives
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    # every hex digit outside the fixed ones takes many values (no bit stuck by the mask)
    for position in (0, 9, 15, 20, 35):
        assert len({text[position] for text in ids}) > 8
    assert {text[14] for text in ids} == {"4"} and {text[19] for text in ids} == set("89ab")


def _walked_default(contract: Contract, schemas: list[dict[str, Any]], name: str) -> Any:
    """The per-request walk body_default used to make."""
    for schema in schemas:
        prop = contract.resolve(contract.resolve(schema).get("properties", {}).get(name, {}))
        if "default" in prop:
            return prop["default"]
    return None


@pytest.mark.parametrize("era", ["current", "2023"])
def test_body_defaults_are_what_the_contract_walk_finds(era: str) -> None:
    contract = Contract(MockConfig().contract_file(), era)
    seen = 0
    for op in contract.operations:
        schemas = list(op.body_schemas.values())
        names = {n for s in schemas for n in (contract.resolve(s).get("properties") or {})}
        for name in names | {"no_such_field"}:
            assert op.body_defaults.get(name) == _walked_default(contract, schemas, name), (op, name)
        seen += len(op.body_defaults)
    assert seen  # auto_generate_name, response_mode, ... have defaults
    send = contract.operation("sendChatMessage").body_defaults
    assert "auto_generate_name" in send or era == "2023"


@pytest.mark.parametrize("tokenizer", [engine_module.DEFAULT_TOKENIZER, r"\w+"])
def test_cached_pieces_and_counts_are_the_tokenizers(monkeypatch, tokenizer: str) -> None:
    monkeypatch.setattr(engine_module, "CACHE_ENTRIES", 3)
    eng = Engine({"tokenizer": tokenizer})
    pattern = re.compile(tokenizer)
    texts = [
        "Hello there, world.",
        "",
        "  spaced  out ",
        "x" * 5000,
        "a b c",
        "Hello there, world.",
        "déjà vu",
    ]
    for _ in range(2):
        for text in texts:
            found = pattern.findall(text)
            want = found if "".join(found) == text else [text]
            assert eng.pieces(text) == (want or [""])
            assert eng.count_tokens(text) == len(found)
    assert len(eng._pieces) <= 3 and all(len(t) <= engine_module.CACHED_TEXT_MAX for t in eng._pieces)
    pieces = eng.pieces("a b c")
    pieces.append("changed")  # a caller's list is its own
    assert eng.pieces("a b c") == ["a", " b", " c"] or tokenizer != engine_module.DEFAULT_TOKENIZER


def _request(body: bytes, declared: str | None, cap: int | None = 1024, chunked: bool = False) -> Any:
    from werkzeug.wrappers import Request

    environ = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(body), "CONTENT_TYPE": "application/json"}
    if declared is not None:
        environ["CONTENT_LENGTH"] = declared
    if chunked:
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
        environ["wsgi.input_terminated"] = True
    request = Request(environ)
    request.max_content_length = cap
    return request


def _outcome(read: Any, request: Any) -> Any:
    try:
        return read(request)
    except Exception as exc:  # the kind of refusal, and the status it answers with
        return type(exc).__name__, getattr(exc, "status", None) or getattr(exc, "code", None)


def _werkzeugs(request: Any) -> bytes:
    """What read_body did for every body before its one-read path (werkzeug's reader)."""
    cap = request.max_content_length
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise InputError(too_large(cap), status=413) from exc
    if cap is not None and request.content_length is None and len(raw) >= cap:
        raise InputError(too_large(cap), status=413)
    return raw


@pytest.mark.parametrize(
    ("body", "declared", "cap", "chunked"),
    [
        (b'{"query": "hi"}', "15", 1024, False),  # the common case
        (b'{"query": "hi"}', "15", None, False),  # no cap
        (b"", "0", 1024, False),
        (b"", None, 1024, False),
        (b'{"query": "hi"}', "40", 1024, False),  # shorter than declared: the client went away
        (b'{"query": "hi"}{"more": 1}', "15", 1024, False),  # only what was declared
        (b"x" * 2000, "2000", 1024, False),  # over the cap, refused from the header
        (b"x" * 1024, "1024", 1024, False),  # exactly the cap
        (b"x" * 2000, None, 1024, True),  # chunked, over the cap
        (b'{"a": 1}', None, 1024, True),  # chunked, within it
        (b'{"a": 1}', "+8", 1024, False),  # a length that is not plain digits
        (b'{"a": 1}', " 8", 1024, False),
    ],
)
def test_read_body_reads_what_werkzeugs_reader_read(
    body: bytes, declared: str | None, cap: Any, chunked: bool
) -> None:
    want = _outcome(_werkzeugs, _request(body, declared, cap, chunked))
    request = _request(body, declared, cap, chunked)
    assert _outcome(read_body, request) == want
    if isinstance(want, bytes):  # read once: the journal's later read gets the same bytes
        assert request.environ[BODY_KEY] == want and read_body(request) == want


def test_the_journal_keeps_a_validated_json_body(make_app) -> None:
    from tests.mock.conftest import AUTH

    app = make_app()
    client = app.test_client()
    body = {"inputs": {"book": "b"}, "query": "journal me", "user": "u-journal", "response_mode": "blocking"}
    assert client.post("/v1/chat-messages", json=body, headers=AUTH).status_code == 200
    entries = client.get("/_mock/journal").json["data"]
    assert any(e["path"] == "/v1/chat-messages" and json.loads(e["body"]) == body for e in entries)


def test_history_keeps_its_order_after_the_newest_message_is_deleted(make_app) -> None:
    """messages.seq is a plain rowid (no AUTOINCREMENT): a number freed by deleting the newest row
    may be given again, and must still come after every message there is."""
    from tests.mock.conftest import AUTH

    client = make_app().test_client()

    def send(query: str, conversation_id: str = "") -> str:
        body = {"inputs": {"book": "b"}, "query": query, "user": "u-order", "response_mode": "blocking"}
        resp = client.post(
            "/v1/chat-messages", json={**body, "conversation_id": conversation_id}, headers=AUTH
        )
        assert resp.status_code == 200
        return resp.json["conversation_id"]

    kept = send("first")
    send("second", kept)
    doomed = send("newest, then deleted")
    deleted = client.delete(f"/v1/conversations/{doomed}", json={"user": "u-order"}, headers=AUTH)
    assert deleted.status_code == 204
    send("third", kept)  # may take the deleted message's number
    history = client.get(f"/v1/messages?conversation_id={kept}&user=u-order", headers=AUTH).json["data"]
    assert [m["query"] for m in history] == ["first", "second", "third"]


def test_the_cached_pid_is_the_childs_after_a_fork() -> None:
    import os

    assert pid.current() == os.getpid()
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child reports what it sees, and leaves at once
        os.write(write, f"{pid.current()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen, real = map(int, os.read(read, 100).split())
    os.close(read)
    os.waitpid(child, 0)
    assert seen == real == child != pid.current()


def test_the_pool_without_a_lock_never_hands_one_connection_to_two_holders(tmp_path) -> None:
    import threading

    from mock_server import store
    from mock_server.state import ConnectionPool

    path = str(tmp_path / "pool.sqlite3")
    store.init_schema(path)
    pool = ConnectionPool(path, keep=4)
    held: set[int] = set()
    guard = threading.Lock()
    clashes: list[int] = []

    def use() -> None:
        for _ in range(200):
            conn = pool.acquire()
            with guard:
                if id(conn) in held:
                    clashes.append(id(conn))
                held.add(id(conn))
            conn.execute("SELECT 1").fetchone()
            with guard:
                held.discard(id(conn))
            pool.release(conn)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not clashes and len(pool._idle) <= 4
    first = pool.acquire()
    pool.release(first)
    assert pool.acquire() is first  # the last one released is the next one used


@pytest.mark.parametrize("declared", [None, "", "0", "15", "007", " 15", "+15", "-3", "1_0", "١٥", "x"])
@pytest.mark.parametrize("encoding", [None, "", "chunked", "gzip"])
def test_has_body_is_werkzeugs_content_length_or_a_transfer_encoding(declared: Any, encoding: Any) -> None:
    from mock_server.validation import _has_body

    request = _request(b"", declared)
    if encoding is not None:
        request.environ["HTTP_TRANSFER_ENCODING"] = encoding
    want = bool(request.content_length) or bool(request.environ.get("HTTP_TRANSFER_ENCODING"))
    assert _has_body(request) is want


def test_an_acknowledged_message_survives_kill_9_of_the_server(tmp_path) -> None:
    """A blocking 200 comes after the COMMIT: with the WAL (synchronous=NORMAL), the committed frames
    are in the file when the answer leaves, so killing every process of the server at once loses
    none (only an OS crash could). The next start finds all of them, in order."""
    import os
    import signal

    import requests

    from tests.mock.conftest import AUTH
    from tests.served import served_mock

    store_path = str(tmp_path / "durable.sqlite3")
    args = ("--store", store_path, "--ttft-ms", "0", "--token-interval-ms", "0", "--jitter-ms", "0")
    sent, conv = [], ""
    with served_mock(*args) as served:
        for n in range(20):
            body = {
                "inputs": {"book": "b"},
                "query": f"durable {n}",
                "user": "u-kill",
                "conversation_id": conv,
            }
            resp = requests.post(f"{served.url}/v1/chat-messages", json=body, headers=AUTH, timeout=30)
            assert resp.status_code == 200
            conv = resp.json()["conversation_id"]
            sent.append(body["query"])
        worker = requests.get(f"{served.url}/_mock/health", timeout=30).json()["pid"]
        with open(f"/proc/{worker}/stat") as stat:
            master = int(stat.read().rsplit(")", 1)[1].split()[1])
        for pid_ in (worker, master):
            os.kill(pid_, signal.SIGKILL)
    with served_mock(*args) as served:
        history = requests.get(
            f"{served.url}/v1/messages",
            params={"conversation_id": conv, "user": "u-kill", "limit": 100},
            headers=AUTH,
            timeout=30,
        ).json()["data"]
    assert [m["query"] for m in history] == sent


def test_the_store_never_runs_with_synchronous_off(tmp_path) -> None:
    """WAL with synchronous=NORMAL (SPEC_NOTES M11): OFF could leave a corrupt store after a power cut."""
    from mock_server import store

    conn = store.connect(str(tmp_path / "mock.sqlite3"))
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # 0 OFF, 1 NORMAL, 2 FULL
