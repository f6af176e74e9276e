"""Group commit (store.GroupCommit.write): writes that queue together share one transaction, each
keeps its own outcome, and none is answered before the COMMIT that holds it."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest

from mock_server import store
from mock_server.state import ConnectionPool


def _pool(tmp_path) -> ConnectionPool:
    path = str(tmp_path / "mock.sqlite3")
    store.init_schema(path)
    return ConnectionPool(path)


def _meta(path: str, key: str) -> str | None:
    conn = store.connect(path)
    try:
        return store.get_meta(conn, key)
    finally:
        conn.close()


def _queued_together(pool: ConnectionPool, works: list[Any], returned: list[int] | None = None) -> list[Any]:
    """Run each work from its own thread so that all of them queue while the leader waits for the
    process's writer lock (held here until every one is pending): one batch. Returns each thread's
    outcome (result or exception); `returned` gets each thread's index as it returns."""
    outcomes: list[Any] = [None] * len(works)
    returned = [] if returned is None else returned

    def run(index: int) -> None:
        try:
            outcomes[index] = pool.writes.write(works[index])
        except Exception as exc:
            outcomes[index] = exc
        returned.append(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(works))]
    with store._WRITERS.get():
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while len(pool.writes._pending) < len(works) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert len(pool.writes._pending) == len(works)
    for thread in threads:
        thread.join(10)
    return outcomes


def test_a_failing_write_of_a_batch_gets_its_error_and_the_others_commit(tmp_path) -> None:
    pool = _pool(tmp_path)
    batches: list[int] = []
    real_run = store._run_batch

    def counting(conn: sqlite3.Connection, batch: list[Any]) -> None:
        batches.append(len(batch))
        real_run(conn, batch)

    def put(key: str) -> Any:
        def work(conn: sqlite3.Connection) -> str:
            store.set_meta(conn, key, "v")
            return key

        return work

    def failing(conn: sqlite3.Connection) -> None:
        store.set_meta(conn, "broken", "half-written")  # rolled back with its write alone
        raise ValueError("this write fails")

    store._run_batch = counting  # type: ignore[assignment]
    try:
        outcomes = _queued_together(pool, [put("a"), failing, put("b")])
    finally:
        store._run_batch = real_run  # type: ignore[assignment]
    assert batches == [3]  # one transaction for the three
    assert outcomes[0] == "a" and outcomes[2] == "b"
    assert isinstance(outcomes[1], ValueError) and str(outcomes[1]) == "this write fails"
    assert (_meta(pool.path, "a"), _meta(pool.path, "b"), _meta(pool.path, "broken")) == ("v", "v", None)


def test_no_writer_of_a_batch_returns_before_its_commit(tmp_path) -> None:
    pool = _pool(tmp_path)
    returned: list[int] = []
    seen: list[tuple[list[int], str | None]] = []

    def put(key: str) -> Any:
        def work(conn: sqlite3.Connection) -> None:
            store.set_meta(conn, key, "v")

        return work

    def last(conn: sqlite3.Connection) -> None:
        # the batch's last write: the others are written but not committed, and none has returned
        time.sleep(0.05)  # (time for a writer woken too early to return)
        seen.append((list(returned), _meta(pool.path, "first")))

    outcomes = _queued_together(pool, [put("first"), put("second"), last], returned)
    assert outcomes == [None, None, None]
    assert seen == [([], None)]
    assert sorted(returned) == [0, 1, 2]
    assert _meta(pool.path, "first") == "v" and _meta(pool.path, "second") == "v"


def test_writes_that_come_during_a_batch_are_run_by_the_next_leader(tmp_path) -> None:
    pool = _pool(tmp_path)
    late_outcome: list[Any] = []

    def late(conn: sqlite3.Connection) -> str:
        store.set_meta(conn, "late", "v")
        return "late done"

    def first(conn: sqlite3.Connection) -> str:
        # a write queued while this batch runs (from another thread) joins the next batch
        thread = threading.Thread(target=lambda: late_outcome.append(pool.writes.write(late)))
        thread.start()
        deadline = time.monotonic() + 10
        while not pool.writes._pending and time.monotonic() < deadline:
            time.sleep(0.005)
        first.thread = thread  # type: ignore[attr-defined]
        store.set_meta(conn, "first", "v")
        return "first done"

    assert pool.writes.write(first) == "first done"
    first.thread.join(10)  # type: ignore[attr-defined]
    assert late_outcome == ["late done"]
    assert _meta(pool.path, "late") == "v"
    assert pool.writes._leading is False and pool.writes._pending == []


def test_a_batch_whose_commit_fails_fails_every_writer(tmp_path, monkeypatch) -> None:
    pool = _pool(tmp_path)

    def put(key: str) -> Any:
        def work(conn: sqlite3.Connection) -> None:
            store.set_meta(conn, key, "v")

        return work

    real_execute = store.RetryingConnection.execute

    def execute(self: Any, sql: str, parameters: Any = ()) -> Any:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return real_execute(self, sql, parameters)

    monkeypatch.setattr(store.RetryingConnection, "execute", execute)
    outcomes = _queued_together(pool, [put("x"), put("y")])
    monkeypatch.undo()
    assert [str(o) for o in outcomes] == ["disk I/O error", "disk I/O error"]
    assert _meta(pool.path, "x") is None and _meta(pool.path, "y") is None
    assert pool.writes.write(put("z")) is None  # the next batch works
    assert _meta(pool.path, "z") == "v"


@pytest.mark.parametrize("chats", [12])
def test_chat_messages_sent_at_once_each_get_their_own_answer_and_rows(make_app, chats: int) -> None:
    """Blocking chats from threads (Flask's threaded dev server serves so): every one is answered
    with its own ids, and history holds each message."""
    from tests.mock.conftest import AUTH

    app = make_app()
    answers: list[Any] = [None] * chats

    def send(index: int) -> None:
        client = app.test_client()
        body = {"inputs": {"book": "b"}, "query": f"q{index}", "user": "u-gc", "response_mode": "blocking"}
        answers[index] = client.post("/v1/chat-messages", json=body, headers=AUTH)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(chats)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [a.status_code for a in answers] == [200] * chats
    client = app.test_client()
    for index, answer in enumerate(answers):
        conv = answer.json["conversation_id"]
        history = client.get(f"/v1/messages?user=u-gc&conversation_id={conv}", headers=AUTH).json["data"]
        assert [(m["id"], m["query"]) for m in history] == [(answer.json["message_id"], f"q{index}")]


def test_two_workers_under_concurrent_chats_keep_every_acknowledged_message(tmp_path) -> None:
    """gunicorn with 2 gevent workers, 48 blocking chats from 12 threads: each worker batches its
    own writes (the flock orders the batches of both); every 200 is in history, with its query."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from tests.mock.conftest import AUTH
    from tests.served import served_mock

    args = ("--workers", "2", "--store", str(tmp_path / "two.sqlite3"), "--ttft-ms", "0")
    with served_mock(*args, "--token-interval-ms", "0", "--jitter-ms", "0", "--log-level", "error") as served:

        def send(n: int) -> tuple[str, str, str, int]:
            body = {"inputs": {"book": "b"}, "query": f"two {n}", "user": f"u-two-{n % 3}"}
            with requests.Session() as session:
                resp = session.post(f"{served.url}/v1/chat-messages", json=body, headers=AUTH, timeout=30)
            data = resp.json()
            return body["user"], data.get("conversation_id", ""), body["query"], resp.status_code

        with ThreadPoolExecutor(12) as pool:
            sent = list(pool.map(send, range(48)))
        assert [status for *_, status in sent] == [200] * 48
        for user, conv, query, _ in sent:
            history = requests.get(
                f"{served.url}/v1/messages",
                params={"conversation_id": conv, "user": user},
                headers=AUTH,
                timeout=30,
            ).json()["data"]
            assert [m["query"] for m in history] == [query]
