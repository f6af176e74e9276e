"""Per-app state: config, contract, fixtures, engine, stop watcher, and the SQLite file."""

from __future__ import annotations

import atexit
import contextlib
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, g

from mock_server import store
from mock_server.config import MockConfig
from mock_server.contract import Contract, Operation
from mock_server.engine import Engine
from mock_server.fixtures import Fixtures, load_fixtures, normalise_users
from mock_server.journal import Journal
from mock_server.streaming import StopWatcher


class ConnectionPool:
    """Idle SQLite connections kept open for reuse: opening and closing one per request costs
    milliseconds (closing the last connection of a WAL database checkpoints it). Each request or
    stream still holds its own connection while it runs. Reset after fork (one pool per worker).
    """

    def __init__(self, path: str, keep: int = 64) -> None:
        self.path = path
        self.keep = keep
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def acquire(self) -> sqlite3.Connection:
        with self._lock:
            if self._pid != os.getpid():  # inherited from the parent: never share across processes
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return store.connect(self.path)

    def release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        with self._lock:
            if self._pid == os.getpid() and len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()


@dataclass
class MockState:
    config: MockConfig
    contract: Contract
    fixtures: Fixtures
    engine: Engine
    db_path: str
    stops: StopWatcher
    started_at: float = field(default_factory=time.time)
    operations: dict[str, Operation] = field(default_factory=dict)
    pool: ConnectionPool | None = None
    journal: Journal | None = None

    def connection(self) -> sqlite3.Connection:
        assert self.pool is not None
        return self.pool.acquire()

    def seed(self, conn: sqlite3.Connection, users: list[dict[str, Any]] | None = None) -> int:
        """Insert the fixture users' conversations and messages for the primary key; returns count."""
        count = 0
        key = self.config.primary_key
        intro = self.fixtures.parameters.get("opening_statement")
        for entry in self.fixtures.users if users is None else users:
            user = entry["user"]
            for conv in entry["conversations"]:
                messages = list(conv.get("messages") or [])
                created = int(
                    conv.get("created_at") or (messages[0]["created_at"] if messages else time.time())
                )
                updated = int(conv.get("updated_at") or (messages[-1]["created_at"] if messages else created))
                conv_id = str(conv.get("id") or uuid.uuid4())
                inputs = conv.get("inputs") or {}
                store.insert_conversation(
                    conn,
                    key,
                    user,
                    {
                        "id": conv_id,
                        "name": conv.get("name") or self.fixtures.default_conversation_name,
                        "inputs": inputs,
                        "status": conv.get("status", "normal"),
                        "introduction": conv.get("introduction", intro),
                        "created_at": created,
                        "updated_at": updated,
                    },
                )
                for msg in messages:
                    feedback = msg.get("feedback")
                    if feedback is None and msg.get("rating"):
                        feedback = {"rating": msg["rating"]}
                    store.insert_message(
                        conn,
                        key,
                        user,
                        {
                            "id": str(msg.get("id") or uuid.uuid4()),
                            "conversation_id": conv_id,
                            "inputs": msg.get("inputs", inputs),
                            "query": msg["query"],
                            "answer": msg["answer"],
                            "feedback": feedback,
                            "created_at": int(msg.get("created_at") or created),
                        },
                    )
                    count += 1
                count += 1
        return count

    def seed_once(self) -> None:
        """Seed on first start of a store; later starts (and other workers) find it seeded."""
        conn = store.connect(self.db_path)
        try:
            with store.transaction(conn):
                if store.get_meta(conn, "seeded") is None:
                    self.seed(conn)
                    store.set_meta(conn, "seeded", str(time.time()))
        finally:
            conn.close()

    def reset(self) -> None:
        conn = store.connect(self.db_path)
        try:
            with store.transaction(conn):
                store.wipe(conn)
                self.seed(conn)
                store.set_meta(conn, "seeded", str(time.time()))
        finally:
            conn.close()

    def load_users(self, doc: Any, replace: bool) -> int:
        users = normalise_users(doc)
        conn = store.connect(self.db_path)
        try:
            with store.transaction(conn):
                if replace:
                    store.wipe(conn, journal=False, faults=False)
                return self.seed(conn, users)
        finally:
            conn.close()


def build_state(config: MockConfig) -> MockState:
    contract = Contract(config.contract_file())
    fixtures = load_fixtures(config.fixtures_path())
    db_path = config.store
    if not db_path:
        fd, db_path = tempfile.mkstemp(prefix="chat-mock-", suffix=".sqlite3")
        os.close(fd)
        atexit.register(_remove_quietly, db_path)
        config.store = db_path
    store.init_schema(db_path)
    state = MockState(config, contract, fixtures, Engine(fixtures.answers), db_path, StopWatcher(db_path))
    state.operations = {op.operation_id: op for op in contract.operations}
    state.pool = ConnectionPool(db_path)
    state.journal = Journal(state.pool, config.journal_size)
    state.seed_once()
    return state


def _remove_quietly(path: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.remove(path + suffix)


def get_state(app: Flask) -> MockState:
    return app.extensions["chat_mock"]


def db(state: MockState) -> sqlite3.Connection:
    """This request's connection (opened on first use, closed at teardown)."""
    conn = g.get("chat_mock_db")
    if conn is None:
        conn = g.chat_mock_db = state.connection()
        g.chat_mock_pool = state.pool
    return conn


def release_db() -> None:
    """Close this request's connection early (a long stream must not hold one open)."""
    conn = g.pop("chat_mock_db", None)
    if conn is not None:
        g.pop("chat_mock_pool").release(conn)
