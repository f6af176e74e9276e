"""Per-app state: config, contract, fixtures, engine, stop watcher, and the SQLite file."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, g

from mock_server import app_store, pid, store
from mock_server.apps import AppError, Apps, load_apps
from mock_server.config import MockConfig
from mock_server.contract import Contract, Operation
from mock_server.engine import Engine
from mock_server.fixtures import FixtureError, Fixtures, load_fixtures, users_document, validated_users
from mock_server.journal import Journal
from mock_server.recording.load import RecordedApps, is_directory_binding, recorded_apps
from mock_server.replies import StreamVocabulary
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
        self._pid = pid.current()
        self.writes = store.GroupCommit(self.acquire, self.release)  # see store.GroupCommit.write

    # No lock: list.pop and list.append are atomic under the GIL, and a lock is Python code under
    # gevent (two of them per request). Only a fresh child process resets the list.

    def acquire(self) -> sqlite3.Connection:
        if self._pid != pid.current():  # inherited from the parent: never share across processes
            self._idle, self._pid = [], pid.current()
        try:
            return self._idle.pop()
        except IndexError:
            return store.connect(self.path)

    def release(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if self._pid != pid.current():
            conn.close()
            return
        self._idle.append(conn)
        if len(self._idle) > self.keep:  # one over: close an idle one (popped: no one else has it)
            try:
                extra = self._idle.pop(0)
            except IndexError:
                return
            extra.close()


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
    # set by build_state before the app serves anything (a state is never used half-built)
    pool: ConnectionPool = None  # type: ignore[assignment]
    journal: Journal = None  # type: ignore[assignment]
    temp_store: bool = False  # db_path is a private temp file, removed with the app
    _faults_cache: tuple[tuple[int, int], list[dict[str, Any]]] | None = None
    _reply_cache: tuple[tuple[int, int], dict[str, sqlite3.Row | None]] | None = None
    apps: Apps | None = None  # which app (mode, parameters, replies) each API key is
    vocabulary: StreamVocabulary = None  # type: ignore[assignment]  # the contract's event types, roles and modes
    link_key: bytes = field(default=b"", repr=False)  # signs file links (config.link_key, else random)

    @functools.cached_property
    def fixtures_dir(self) -> Path:
        """Resolved once: finding the data root stats several paths (a third of a chat POST's time
        when it was looked up per request)."""
        return self.config.fixtures_path()

    @functools.cached_property
    def assistant_files_dir(self) -> Path:
        """Where the files an assistant's answer carries are (joined once, not per chat message)."""
        return self.fixtures_dir / "apps" / "files"

    @property
    def error_codes(self) -> dict[str, Any]:
        """Dify's error codes: code -> [status, message] (the contract's ChatAppError x-error-codes)."""
        schema = self.contract.doc.get("components", {}).get("schemas", {}).get("ChatAppError", {})
        return schema.get("x-error-codes") or {}

    def global_faults(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        """The stored faults, re-read only after a change (store.settings_version); cached per process."""
        version = self.settings_version(conn)
        cached = self._faults_cache
        if cached is None or cached[0] != version:
            cached = self._faults_cache = (version, store.list_faults(conn))
        return cached[1]

    def settings_version(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """store.settings_version, read once per request: a chat message asks for the faults and
        then for the reply setting, and each read is a stat."""
        ctx = g._get_current_object()  # once: each use of the proxy costs a context lookup
        version = ctx.get("chat_mock_settings_version")
        if version is None:
            version = ctx.chat_mock_settings_version = store.settings_version(conn)
        return version

    def reply_setting(self, conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
        """The app's annotation reply setting (None: never set), cached per process like the faults:
        every chat message asks for it, and the query was a sixth of a blocking POST's SQLite time."""
        version = self.settings_version(conn)
        cached = self._reply_cache
        if cached is None or cached[0] != version:
            cached = self._reply_cache = (version, {})
        settings = cached[1]
        if key not in settings:  # one entry per API key the mock serves (others never get this far)
            settings[key] = app_store.get_reply_setting(conn, key)
        return settings[key]

    def connection(self) -> sqlite3.Connection:
        assert self.pool is not None
        return self.pool.acquire()

    def seed(self, conn: sqlite3.Connection, users: list[dict[str, Any]] | None = None) -> int:
        """Insert users' conversations and messages (records from fixtures.validated_users; default:
        the fixture users) for the primary key; returns the number of rows."""
        count = 0
        key = self.config.primary_key
        for entry in self.fixtures.users if users is None else users:
            user = entry["user"]
            for conv in entry["conversations"]:
                store.insert_conversation(conn, key, user, conv)
                for msg in conv["messages"]:
                    store.insert_message(conn, key, user, msg)
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
            store.settings_changed(conn)
        finally:
            conn.close()

    def validated_users(self, users: Any, where: str = "users") -> list[dict[str, Any]]:
        """Users checked against the contract, defaults filled in (FixtureError otherwise)."""
        return validated_users(
            users,
            self.contract,
            self.fixtures.default_conversation_name,
            self.fixtures.parameters.get("opening_statement"),
            where,
            self.fixtures.parameters,
        )

    def load_users(self, doc: Any, replace: bool) -> int:
        """Load a /_mock/fixtures document; FixtureError (400, or 409 for ids already stored)."""
        users = self.validated_users(users_document(doc))
        conn = store.connect(self.db_path)
        try:
            with store.transaction(conn):
                if replace:
                    store.wipe(conn, journal=False, faults=False)
                else:
                    _refuse_stored_ids(conn, users)
                count = self.seed(conn, users)
            if replace:  # the wipe removed the reply settings too
                store.settings_changed(conn)
            return count
        finally:
            conn.close()


def _refuse_stored_ids(conn: sqlite3.Connection, users: list[dict[str, Any]]) -> None:
    for u, entry in enumerate(users):
        for c, conv in enumerate(entry["conversations"]):
            at = f"users[{u}].conversations[{c}]"
            if conn.execute("SELECT 1 FROM conversations WHERE id = ?", (conv["id"],)).fetchone():
                raise FixtureError(f"{at}.id", f"conversation {conv['id']!r} already exists", 409)
            for m, msg in enumerate(conv["messages"]):
                if conn.execute("SELECT 1 FROM messages WHERE id = ?", (msg["id"],)).fetchone():
                    raise FixtureError(f"{at}.messages[{m}].id", f"message {msg['id']!r} already exists", 409)


def build_state(config: MockConfig) -> MockState:
    contract = Contract(config.contract_file(), config.era)
    fixtures = load_fixtures(config.fixtures_path())
    canned = load_apps(config.fixtures_path(), fixtures.raw_app)
    recorded = recorded_for(config, contract, canned)
    apps = Apps(canned + recorded.apps, recorded.bindings, has_modes(contract))
    config.api_keys = config.accepted_keys(apps.keys, [a.key for a in recorded.apps])
    db_path = config.store
    temp_store = not db_path
    if not db_path:  # removed when the app is collected, or at exit (see create_app)
        fd, db_path = tempfile.mkstemp(prefix="chat-mock-", suffix=".sqlite3")
        os.close(fd)
        config.store = db_path
    store.init_schema(db_path)
    state = MockState(config, contract, fixtures, Engine(fixtures.answers), db_path, StopWatcher(db_path))
    state.temp_store = temp_store
    state.apps = apps
    state.link_key = (config.link_key or secrets.token_hex(32)).encode()
    state.vocabulary = StreamVocabulary(contract.doc)
    for app in apps.apps:  # replies the app's mode cannot stream are a fixture error, found at start
        problem = state.vocabulary.problem(app)
        if problem:
            raise AppError(problem)
    try:
        fixtures.users = _validated_fixture_users(state)
    except FixtureError:
        if temp_store:
            remove_store_files(db_path)
        raise
    state.operations = {op.operation_id: op for op in contract.operations}
    state.pool = ConnectionPool(db_path)
    state.journal = Journal(state.pool, config.journal_size)
    state.seed_once()
    return state


def recorded_for(
    config: MockConfig, contract: Contract, canned: list[Any], exchanges: bool = True
) -> RecordedApps:
    """The recorded apps of `--app-dir` and `--app KEY=DIR` (mock_server/recording); AppError when
    one cannot be served. Eras without app modes (2023) have none."""
    names = {a.name for a in canned}
    if not has_modes(contract):
        if config.app_dirs or any(is_directory_binding(v, names) for v in config.app_bindings.values()):
            raise AppError(f"--app-dir: recorded apps are served in the current era only, not {config.era}")
        return RecordedApps(bindings=dict(config.app_bindings))
    return recorded_apps(
        config.app_dirs,
        config.app_bindings,
        names,
        contract,
        config.replay_speed,
        config.replay_fallback,
        exchanges,
    )


def has_modes(contract: Contract) -> bool:
    """Whether the served era knows app modes (the blocking answer names its `mode`; 2023's did not)."""
    answer = contract.doc.get("components", {}).get("schemas", {}).get("ChatAppAnswer", {})
    return "mode" in answer.get("properties", {})


_CHECKED: dict[str, list[dict[str, Any]]] = {}  # fixture users already validated, by their inputs


def _validated_fixture_users(state: MockState) -> list[dict[str, Any]]:
    """The fixture users, validated; memoized, since tests build many apps from the same files."""
    contract_file = state.contract.path
    key = json.dumps(
        [
            str(contract_file),
            contract_file.stat().st_mtime_ns,
            state.fixtures.users,
            state.fixtures.default_conversation_name,
            state.fixtures.parameters.get("opening_statement"),
            state.fixtures.parameters.get("user_input_form"),
        ],
        sort_keys=True,
        default=str,
    )
    if key not in _CHECKED:
        _CHECKED.clear()
        _CHECKED[key] = state.validated_users(state.fixtures.users, where="users.yaml: users")
    return _CHECKED[key]


def remove_store_files(path: str) -> None:
    """Delete a SQLite file and its companions (-wal, -shm, faults marker, writer lock), if present."""
    for suffix in ("", "-wal", "-shm", store.SETTINGS_MARKER_SUFFIX, store.WRITER_LOCK_SUFFIX):
        with contextlib.suppress(OSError):
            os.remove(path + suffix)


def get_state(app: Flask) -> MockState:
    return app.extensions["chat_mock"]


def db(state: MockState) -> sqlite3.Connection:
    """This request's connection (opened on first use, closed at teardown)."""
    ctx = g._get_current_object()  # once: each use of the proxy costs a context lookup
    conn = ctx.get("chat_mock_db")
    if conn is None:
        conn = ctx.chat_mock_db = state.connection()
        ctx.chat_mock_pool = state.pool
    return conn


def release_db() -> None:
    """Close this request's connection early (a long stream must not hold one open)."""
    ctx = g._get_current_object()
    conn = ctx.pop("chat_mock_db", None)
    if conn is not None:
        ctx.pop("chat_mock_pool").release(conn)
