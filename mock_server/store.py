"""SQLite state shared by every worker: conversations, messages, stop signals, faults, journal.

One connection per request (or per stream generator); WAL and a busy timeout let several gunicorn
workers write the same file. Every read and write of chat data is scoped to (api key, user).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from mock_server import jsoncodec, pid
from mock_server.app_store import APP_SCHEMA, APP_TABLES
from mock_server.files_store import FILE_TABLES, FILES_SCHEMA
from mock_server.variables_store import VARIABLE_TABLES, VARIABLES_SCHEMA

# Every chat message writes a row to conversations and messages and to their indexes: each page it
# touches is a 4 KB frame the commit appends to the WAL. Two choices keep that count down (10.3 -> 8.1
# frames per new conversation): the owner index is ascending (a newest-first page reads it backwards,
# in the same order and at the same cost), so a new row goes at the end of its user's range rather
# than splitting its middle; and messages.seq is a plain rowid (max + 1: still increasing for every
# row there is) without AUTOINCREMENT, whose sqlite_sequence row was one more page per message. Stores
# made before keep their own definitions (CREATE ... IF NOT EXISTS); the queries are the same.
SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL,
    inputs TEXT NOT NULL, status TEXT NOT NULL, introduction TEXT,
    created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, view TEXT);
CREATE INDEX IF NOT EXISTS conversations_owner
    ON conversations (api_key, user, updated_at, created_at, id);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL,
    api_key TEXT NOT NULL, user TEXT NOT NULL, inputs TEXT NOT NULL, query TEXT NOT NULL,
    answer TEXT NOT NULL, rating TEXT, feedback_content TEXT, created_at INTEGER NOT NULL,
    parent_message_id TEXT, status TEXT NOT NULL DEFAULT 'normal', error TEXT,
    message_files TEXT NOT NULL DEFAULT '[]', agent_thoughts TEXT NOT NULL DEFAULT '[]',
    retriever_resources TEXT NOT NULL DEFAULT '[]');
CREATE INDEX IF NOT EXISTS messages_conversation ON messages (conversation_id, created_at, seq);
CREATE TABLE IF NOT EXISTS stops (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, api_key TEXT NOT NULL,
    user TEXT NOT NULL, requested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT, spec TEXT NOT NULL, operation_id TEXT,
    remaining INTEGER, probability REAL NOT NULL DEFAULT 1.0, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,
    query TEXT NOT NULL, headers TEXT NOT NULL, body TEXT NOT NULL, status INTEGER NOT NULL,
    operation_id TEXT, duration_ms REAL NOT NULL);
CREATE TABLE IF NOT EXISTS replay_turns (
    api_key TEXT NOT NULL, exchanges TEXT NOT NULL, served INTEGER NOT NULL,
    PRIMARY KEY (api_key, exchanges));
"""
    + FILES_SCHEMA
    + APP_SCHEMA
    + VARIABLES_SCHEMA
)

# replay_turns: how often each group of equally fitting recorded exchanges has answered (a reset
# replays the sequences from their start)
CHAT_TABLES = (
    "conversations",
    "messages",
    "stops",
    "replay_turns",
    *FILE_TABLES,
    *APP_TABLES,
    *VARIABLE_TABLES,
)

# Columns added to `messages` after the first release: a store written by an older mock gains them.
MESSAGE_COLUMNS_ADDED = {
    "parent_message_id": "TEXT",
    "status": "TEXT NOT NULL DEFAULT 'normal'",
    "error": "TEXT",
    "message_files": "TEXT NOT NULL DEFAULT '[]'",
    "agent_thoughts": "TEXT NOT NULL DEFAULT '[]'",
    "retriever_resources": "TEXT NOT NULL DEFAULT '[]'",
    "feedback_created_at": "REAL",  # when the current rating was given (NULL: seeded, or none)
    "feedback_updated_at": "REAL",
}
CONVERSATION_COLUMNS_ADDED = {"view": "TEXT"}  # see CONVERSATION_JSON
# The history fields kept as JSON text.
MESSAGE_JSON_FIELDS = ("message_files", "agent_thoughts", "retriever_resources")


LOCK_WAIT_S = 30.0


class RetryingConnection(sqlite3.Connection):
    """A connection that waits for the write lock with time.sleep instead of SQLite's busy handler.

    SQLite's own busy handler sleeps inside C, which blocks a whole gevent worker (every stream it
    serves) while another worker writes; time.sleep is patched by gevent and yields instead.
    """

    settings_marker = ""  # see settings_version
    writer_fd = -1  # see transaction

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:  # type: ignore[override]
        delay, deadline = 0.0005, time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                return super().execute(sql, parameters)
            except sqlite3.OperationalError as exc:
                text = str(exc)
                if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.002)


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit BEGIN IMMEDIATE for multi-statement writes).

    synchronous=NORMAL (WAL): a COMMIT has written its frames to the file when it returns, so an
    acknowledged message survives kill -9; the WAL is fsynced at checkpoints, so an OS crash or a
    power cut may lose the last transactions but never corrupts the store (OFF could).
    """
    conn = sqlite3.connect(
        path, timeout=0, isolation_level=None, check_same_thread=False, factory=RetryingConnection
    )
    conn.row_factory = sqlite3.Row
    conn.settings_marker = path + SETTINGS_MARKER_SUFFIX  # type: ignore[attr-defined]
    # flock belongs to an open file: each connection opens its own (closed with it), so neither a
    # fork nor two connections of one process ever share a lock they think is theirs
    fd = os.open(path + WRITER_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    conn.writer_fd = fd  # type: ignore[attr-defined]
    weakref.finalize(conn, os.close, fd)
    conn.execute("PRAGMA busy_timeout = 0")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


class _ProcessLock:
    """One lock per process (a fork gets a fresh one); under gunicorn's gevent worker, threading is
    patched, so waiting for it yields to the other greenlets and wakes the next waiter in turn."""

    def __init__(self) -> None:
        self._pid = -1
        self._lock = threading.Lock()

    def get(self) -> threading.Lock:
        if self._pid != pid.current():
            self._pid, self._lock = pid.current(), threading.Lock()
        return self._lock


_WRITERS = _ProcessLock()
WRITER_LOCK_SUFFIX = "-writer"


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front, so read-then-write is atomic.

    Write transactions of one process go one at a time (a lock that yields to the other
    greenlets), and across processes they queue on an flock of a file beside the store: the kernel
    hands it to the next waiter the moment it is released. Without the first, with 2 workers under
    POST load every second request found the lock taken and went back to the end of the event
    loop's queue, again and again (a p99 7x the GET's); without the second, the other worker polled
    SQLite's lock with sleeps of 0.5-2 ms around transactions of ~0.1 ms, so a second worker added
    little POST throughput. The wait for the flock blocks the worker for at most one transaction
    of another worker (no transaction waits on the network).
    """
    with _WRITERS.get():
        fd = conn.writer_fd  # type: ignore[attr-defined]
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


T = TypeVar("T")


class _Write:
    """One write of a group commit: its work, then its outcome (set by the leader that ran it)."""

    __slots__ = ("work", "done", "result", "error", "lead")

    def __init__(self, work: Any) -> None:
        self.work = work
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None
        self.lead = False  # handed the lead: run the next batch (the write is not done yet)


class GroupCommit:
    """Group commit of one store's writes (one per connection pool): the writes waiting for a batch,
    per process (a fork starts with none), and whether a leader is gathering or running one."""

    def __init__(
        self, acquire: Callable[[], sqlite3.Connection], release: Callable[[sqlite3.Connection], None]
    ) -> None:
        self._acquire, self._release = acquire, release
        self._pid = -1

    def _fresh(self) -> None:
        if self._pid != pid.current():
            self._pid = pid.current()
            self._lock = threading.Lock()
            self._pending: list[_Write] = []
            self._leading = False

    def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run work(connection) in a write transaction shared with the writes that arrive meanwhile;
        returns (or raises) what work did, once the transaction that holds it is committed.

        The first writer leads. It lets the other ready greenlets (or threads) run once, so that
        those about to write queue behind it, then runs every queued write in one BEGIN IMMEDIATE
        ... COMMIT on a connection of its own, each in a SAVEPOINT (a write that raises is rolled
        back alone and gets its exception; the others commit), and wakes each writer after the
        COMMIT: the BEGIN, the COMMIT and the WAL frames of the pages the writes share are paid
        once per batch. The cross-worker flock is taken after the yield, for the batch alone (see
        transaction). A waiting writer holds no connection (10,000 streams starting at once must
        not open 10,000). `work` runs in the leader's greenlet (or thread) on its connection: it
        must use only the connection it is given (no request context) and wait on nothing but SQLite.
        """
        self._fresh()
        mine = _Write(work)
        with self._lock:
            self._pending.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine.done.wait()
            if not mine.lead:
                return _outcome(mine)
        try:
            time.sleep(0)  # (patched by gevent: a yield to the loop) the others queue their writes
            with _WRITERS.get():
                with self._lock:
                    batch, self._pending = self._pending, []
                conn = self._acquire()
                try:
                    _run_batch(conn, batch)
                finally:
                    self._release(conn)
        finally:
            with self._lock:
                if mine in self._pending:  # interrupted before its batch: it is not run
                    self._pending.remove(mine)
                if self._pending:  # those too late for this batch: the first leads the next
                    self._pending[0].lead = True
                    self._pending[0].done.set()
                else:
                    self._leading = False
        return _outcome(mine)


def _outcome(write: _Write) -> Any:
    if write.error is not None:
        raise write.error
    return write.result


def _run_batch(conn: sqlite3.Connection, batch: list[_Write]) -> None:
    """One transaction for the batch (the writer lock of the process is held); every write is done
    (its result or error set, its writer woken) when this returns or raises."""
    fd = conn.writer_fd  # type: ignore[attr-defined]
    alone = len(batch) == 1  # no SAVEPOINT needed: its error rolls the transaction back
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for write in batch:
                    if not alone:
                        conn.execute("SAVEPOINT write")
                    try:
                        write.result = write.work(conn)
                    except Exception as exc:
                        write.error = exc
                        if not alone:
                            conn.execute("ROLLBACK TO write")
                    if not alone:
                        conn.execute("RELEASE write")
                if alone and batch[0].error is not None:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    except BaseException as exc:  # the transaction failed as a whole: so did every write of it
        for write in batch:
            write.error, write.result = exc, None
        raise
    finally:
        for write in batch:
            write.lead = False
            write.done.set()


def init_schema(path: str) -> None:
    """Create (or bring up to date) the store's tables, one process at a time.

    Every gunicorn worker runs this as it boots, on the same file: unserialized, two workers raced
    (one found `meta` missing after its own CREATE, or both added the same new column and one
    failed), and the worker that lost never booted. The writer flock makes the second wait until
    the first has finished, so it finds the schema whole.
    """
    lock_fd = os.open(path + WRITER_LOCK_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        _create_tables(path)
    finally:
        os.close(lock_fd)  # releases the flock
    with open(path + SETTINGS_MARKER_SUFFIX, "ab"):  # present from the start: a stat that fails
        pass  # raises, and building that exception on every request cost more than the stat


def _create_tables(path: str) -> None:
    conn = connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        for statement in SCHEMA.split(";"):  # one by one, so each waits for the lock like any write
            if statement.strip():
                conn.execute(statement)
        added_columns = (("messages", MESSAGE_COLUMNS_ADDED), ("conversations", CONVERSATION_COLUMNS_ADDED))
        for table, added in added_columns:
            have = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})").fetchall()}
            for name, kind in added.items():
                if name not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    finally:
        conn.close()


# ---------- conversations ----------


# A conversation as the API answers it, built by SQLite's json_object: one C call per row instead of
# a Row and a dict in Python, and no re-encoding (a page is ~5x cheaper). Times are stored with their
# fraction (sub-second order); the API answers whole seconds.
_CONVERSATION_OBJECT = (
    "json_object('id', id, 'name', name,"
    " 'inputs', iif(json_valid(inputs), json(inputs), json('{}')),"
    " 'status', status, 'introduction', introduction,"
    " 'created_at', CAST(created_at AS INTEGER), 'updated_at', CAST(updated_at AS INTEGER))"
)
# Each row also keeps that JSON ready in `view`, written with the row (conversation_json) and kept
# in step by every update: a page then reads one column per row instead of building 21 objects
# (half of a page's time in SQLite). A row of a store from before `view` is built on the fly.
CONVERSATION_JSON = f"coalesce(view, {_CONVERSATION_OBJECT})"


def conversation_json(conv: dict[str, Any]) -> str:
    """The `view` of a new row: what _CONVERSATION_OBJECT builds from its columns (a test compares
    the two after every kind of change; a field added to one belongs in the other)."""
    return jsoncodec.dumps_str(
        {
            "id": conv["id"],
            "name": conv["name"],
            "inputs": conv.get("inputs", {}),
            "status": conv.get("status", "normal"),
            "introduction": conv.get("introduction"),
            "created_at": int(conv["created_at"]),
            "updated_at": int(conv.get("updated_at", conv["created_at"])),
        }
    )


def conversation_view(conn: sqlite3.Connection, key: str, user: str, conv_id: str) -> dict[str, Any] | None:
    """The conversation as the API shows it, or None."""
    row = conn.execute(
        f"SELECT {CONVERSATION_JSON} FROM conversations WHERE id = ? AND api_key = ? AND user = ?",
        (conv_id, key, user),
    ).fetchone()
    return jsoncodec.loads(row[0]) if row else None


def get_conversation(conn: sqlite3.Connection, key: str, user: str, conv_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM conversations WHERE id = ? AND api_key = ? AND user = ?", (conv_id, key, user)
    ).fetchone()


def insert_conversation(conn: sqlite3.Connection, key: str, user: str, conv: dict[str, Any]) -> None:
    conn.execute(
        "INSERT INTO conversations (id, api_key, user, name, inputs, status, introduction,"
        " created_at, updated_at, view) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            conv["id"],
            key,
            user,
            conv["name"],
            jsoncodec.dumps_str(conv.get("inputs", {})),
            conv.get("status", "normal"),
            conv.get("introduction"),
            conv["created_at"],
            conv.get("updated_at", conv["created_at"]),
            conversation_json(conv),
        ),
    )


def touch_conversation(conn: sqlite3.Connection, conv_id: str, at: float) -> None:
    """A new message in the conversation: it moves up the list (updated_at never goes back)."""
    conn.execute(
        "UPDATE conversations SET updated_at = max(updated_at, ?1),"
        f" view = json_set({CONVERSATION_JSON}, '$.updated_at', CAST(max(updated_at, ?1) AS INTEGER))"
        " WHERE id = ?2",
        (at, conv_id),
    )


# sort_by -> (column, descending); ties are broken by created_at, then id, in the same direction.
SORTS = {
    "-updated_at": ("updated_at", True),
    "updated_at": ("updated_at", False),
    "-created_at": ("created_at", True),
    "created_at": ("created_at", False),
}


def list_conversations(
    conn: sqlite3.Connection,
    key: str,
    user: str,
    last_id: str | None,
    limit: int,
    sort_by: str = "-updated_at",
) -> tuple[list[Any], bool] | None:
    """A page in `sort_by` order (default: most recently active first); None when last_id is unknown.

    The items are ready JSON (jsoncodec.fragment), to be embedded in the answer as they are.

    Times are stored with their sub-second fraction, so conversations of the same second keep the
    order in which they happened, as on real servers.
    """
    column, descending = SORTS[sort_by]
    keys = [column, "created_at", "id"] if column != "created_at" else ["created_at", "id"]
    order = ", ".join(f"{k} {'DESC' if descending else 'ASC'}" for k in keys)
    args: list[Any] = [key, user]
    where = ""
    if last_id:
        last = get_conversation(conn, key, user, last_id)
        if last is None:
            return None
        where = f" AND ({', '.join(keys)}) {'<' if descending else '>'} ({', '.join('?' for _ in keys)})"
        args += [last[k] for k in keys]
    rows = conn.execute(
        f"SELECT {CONVERSATION_JSON} FROM conversations WHERE api_key = ? AND user = ?{where}"
        f" ORDER BY {order} LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    return [jsoncodec.fragment(r[0]) for r in rows[:limit]], len(rows) > limit


def rename_conversation(conn: sqlite3.Connection, key: str, user: str, conv_id: str, name: str) -> None:
    conn.execute(
        f"UPDATE conversations SET name = ?1, view = json_set({CONVERSATION_JSON}, '$.name', ?1)"
        " WHERE id = ?2 AND api_key = ?3 AND user = ?4",
        (name, conv_id, key, user),
    )


def delete_conversation(conn: sqlite3.Connection, key: str, user: str, conv_id: str) -> bool:
    with transaction(conn):
        cur = conn.execute(
            "DELETE FROM conversations WHERE id = ? AND api_key = ? AND user = ?", (conv_id, key, user)
        )
        if cur.rowcount:
            conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conv_id,))
            conn.execute("DELETE FROM conversation_variables WHERE conversation_id = ?", (conv_id,))
        return cur.rowcount > 0


# ---------- messages ----------


def message_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored message as a HistoryMessage of GET /messages."""
    return {
        "id": row["id"],
        "conversation_id": row["conversation_id"],
        "parent_message_id": row["parent_message_id"],
        "inputs": jsoncodec.loads(row["inputs"]),
        "query": row["query"],
        "answer": row["answer"],
        "message_files": jsoncodec.loads(row["message_files"]),
        "feedback": {"rating": row["rating"]} if row["rating"] else None,
        "retriever_resources": jsoncodec.loads(row["retriever_resources"]),
        "agent_thoughts": jsoncodec.loads(row["agent_thoughts"]),
        "status": row["status"],
        "error": row["error"],
        "created_at": row["created_at"],
    }


def insert_message(conn: sqlite3.Connection, key: str, user: str, msg: dict[str, Any]) -> None:
    """Store a message; the history fields it leaves out get their defaults (no files, normal)."""
    conn.execute(
        "INSERT INTO messages (id, conversation_id, api_key, user, inputs, query, answer, rating, created_at,"
        " parent_message_id, status, error, message_files, agent_thoughts, retriever_resources)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            msg["id"],
            msg["conversation_id"],
            key,
            user,
            jsoncodec.dumps_str(msg.get("inputs", {})),
            msg["query"],
            msg["answer"],
            (msg.get("feedback") or {}).get("rating"),
            msg["created_at"],
            msg.get("parent_message_id"),
            msg.get("status") or "normal",
            msg.get("error"),
            *(jsoncodec.dumps_str(msg.get(name) or []) for name in MESSAGE_JSON_FIELDS),
        ),
    )


def set_message_outcome(conn: sqlite3.Connection, message_id: str, **fields: Any) -> None:
    """Update what an answer produced once it is known (answer, status, error, thoughts, files...)."""
    allowed = {"answer", "status", "error", *MESSAGE_JSON_FIELDS}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"not message outcome fields: {sorted(unknown)}")
    if not fields:
        return
    names = list(fields)
    values = [jsoncodec.dumps_str(fields[n]) if n in MESSAGE_JSON_FIELDS else fields[n] for n in names]
    conn.execute(
        f"UPDATE messages SET {', '.join(f'{n} = ?' for n in names)} WHERE id = ?", (*values, message_id)
    )


def next_replay_turn(conn: sqlite3.Connection, key: str, exchanges: str) -> int:
    """How many times this group of equally fitting recorded exchanges of the app of `key` has
    answered before (0 the first time), counted once for every worker: each gunicorn worker loads
    its own copy of a recording, and a count kept in the process gave a conversation's next turn
    the answer another worker had already given."""
    with transaction(conn):
        row = conn.execute(
            "SELECT served FROM replay_turns WHERE api_key = ? AND exchanges = ?", (key, exchanges)
        ).fetchone()
        served = int(row["served"]) if row else 0
        conn.execute(
            "INSERT OR REPLACE INTO replay_turns (api_key, exchanges, served) VALUES (?, ?, ?)",
            (key, exchanges, served + 1),
        )
    return served


def first_query(conn: sqlite3.Connection, conv_id: str) -> str | None:
    row = conn.execute(
        "SELECT query FROM messages WHERE conversation_id = ? ORDER BY created_at, seq LIMIT 1", (conv_id,)
    ).fetchone()
    return row["query"] if row else None


def last_query(conn: sqlite3.Connection, conv_id: str) -> str | None:
    """The query of a conversation's latest message (a replayed recording follows its conversations)."""
    row = conn.execute(
        "SELECT query FROM messages WHERE conversation_id = ? ORDER BY created_at DESC, seq DESC LIMIT 1",
        (conv_id,),
    ).fetchone()
    return row["query"] if row else None


def count_messages(conn: sqlite3.Connection, conv_id: str) -> int:
    """How many messages a conversation holds (a chatflow's `sys.dialogue_count` is this plus one)."""
    row = conn.execute("SELECT COUNT(*) FROM messages WHERE conversation_id = ?", (conv_id,)).fetchone()
    return int(row[0])


def list_messages(
    conn: sqlite3.Connection, conv_id: str, first_id: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool] | None:
    """The `limit` newest messages older than first_id, ascending; None when first_id is unknown."""
    args: list[Any] = [conv_id]
    where = ""
    if first_id:
        first = conn.execute(
            "SELECT created_at, seq FROM messages WHERE id = ? AND conversation_id = ?", (first_id, conv_id)
        ).fetchone()
        if first is None:
            return None
        where = " AND (created_at, seq) < (?, ?)"
        args += [first["created_at"], first["seq"]]
    rows = conn.execute(
        "SELECT * FROM messages WHERE conversation_id = ?"
        + where
        + " ORDER BY created_at DESC, seq DESC LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    page = [message_row(r) for r in reversed(rows[:limit])]
    return page, len(rows) > limit


def get_message(conn: sqlite3.Connection, key: str, user: str, message_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM messages WHERE id = ? AND api_key = ? AND user = ?", (message_id, key, user)
    ).fetchone()


def set_feedback(conn: sqlite3.Connection, message_id: str, rating: str | None, content: str | None) -> None:
    """Rate (a first rating starts a new feedback, a change updates it) or revoke (rating None)."""
    now = time.time()
    conn.execute(
        "UPDATE messages SET feedback_created_at = CASE WHEN ? IS NULL THEN NULL"
        " WHEN rating IS NULL THEN ? ELSE COALESCE(feedback_created_at, ?) END,"
        " feedback_updated_at = CASE WHEN ? IS NULL THEN NULL ELSE ? END,"
        " rating = ?, feedback_content = ? WHERE id = ?",
        (rating, now, now, rating, now, rating, content, message_id),
    )


def list_feedbacks(conn: sqlite3.Connection, key: str, page: int, limit: int) -> list[sqlite3.Row]:
    """The app's rated messages, most recently rated first (seeded ratings date from their message)."""
    return conn.execute(
        "SELECT id, conversation_id, user, rating, feedback_content, created_at,"
        " COALESCE(feedback_created_at, created_at) AS given_at,"
        " COALESCE(feedback_updated_at, feedback_created_at, created_at) AS changed_at"
        " FROM messages WHERE api_key = ? AND rating IS NOT NULL"
        " ORDER BY given_at DESC, seq DESC LIMIT ? OFFSET ?",
        (key, limit, (page - 1) * limit),
    ).fetchall()


def set_answer(conn: sqlite3.Connection, message_id: str, answer: str) -> None:
    conn.execute("UPDATE messages SET answer = ? WHERE id = ?", (answer, message_id))


# ---------- stop signals ----------


def request_stop(conn: sqlite3.Connection, key: str, user: str, task_id: str) -> None:
    conn.execute(
        "INSERT INTO stops (task_id, api_key, user, requested_at) VALUES (?, ?, ?, ?)",
        (task_id, key, user, time.time()),
    )


def stops_after(conn: sqlite3.Connection, seq: int) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM stops WHERE seq > ? ORDER BY seq", (seq,)).fetchall()


# ---------- faults ----------


def add_fault(
    conn: sqlite3.Connection,
    spec: dict[str, Any],
    operation_id: str | None,
    count: int | None,
    probability: float,
) -> int:
    cur = conn.execute(
        "INSERT INTO faults (spec, operation_id, remaining, probability, created_at) VALUES (?, ?, ?, ?, ?)",
        (json.dumps(spec), operation_id, count, probability, time.time()),
    )
    _faults_written(conn)
    return int(cur.lastrowid or 0)


# Settings that change rarely but are consulted on every request (the global faults, the apps'
# annotation reply switches): each change grows a marker file beside the database, so a worker
# re-reads them only when the marker's (inode, size) moved (a stat instead of a query; file times are
# too coarse to tell two quick changes apart). The file keeps the name it had when it covered faults
# alone, so stores and their clean-up agree across versions.
SETTINGS_MARKER_SUFFIX = "-faults"
_MARKER_MAX = 1 << 16


def settings_version(conn: sqlite3.Connection) -> tuple[int, int]:
    try:
        st = os.stat(conn.settings_marker)  # type: ignore[attr-defined]
    except OSError:
        return (0, 0)
    return (st.st_ino, st.st_size)


def settings_changed(conn: sqlite3.Connection) -> None:
    """Tell every worker that the faults or reply settings changed (call after the change is committed)."""
    marker = conn.settings_marker  # type: ignore[attr-defined]
    try:
        if os.path.getsize(marker) >= _MARKER_MAX:  # start afresh: a new inode is a new version
            with open(marker + ".new", "wb") as fresh:
                fresh.write(b".")
            os.replace(marker + ".new", marker)
            return
    except OSError:
        pass
    with open(marker, "ab") as f:
        f.write(b".")


def _faults_written(conn: sqlite3.Connection) -> None:
    if not conn.in_transaction:  # else the caller calls settings_changed after its COMMIT
        settings_changed(conn)


def list_faults(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    rows = conn.execute("SELECT * FROM faults ORDER BY id").fetchall()
    return [
        {
            "id": r["id"],
            "fault": json.loads(r["spec"]),
            "operation_id": r["operation_id"],
            "remaining": r["remaining"],
            "probability": r["probability"],
        }
        for r in rows
    ]


def take_fault(conn: sqlite3.Connection, fault_id: int, counted: bool) -> bool:
    """Consume one use of a counted fault; False when another request used the last one."""
    if not counted:
        return True
    cur = conn.execute(
        "UPDATE faults SET remaining = remaining - 1 WHERE id = ? AND remaining > 0", (fault_id,)
    )
    if conn.execute("DELETE FROM faults WHERE id = ? AND remaining <= 0", (fault_id,)).rowcount:
        _faults_written(conn)
    return cur.rowcount == 1


def clear_faults(conn: sqlite3.Connection, fault_id: int | None = None) -> int:
    if fault_id is None:
        removed = conn.execute("DELETE FROM faults").rowcount
    else:
        removed = conn.execute("DELETE FROM faults WHERE id = ?", (fault_id,)).rowcount
    _faults_written(conn)
    return removed


# ---------- journal ----------


def journal_add_many(conn: sqlite3.Connection, entries: list[dict[str, Any]], keep: int) -> list[int]:
    """Append entries and trim the ring to the newest `keep`; returns the entries' seqs.

    Called inside a write transaction: no other writer can come between the rows, so AUTOINCREMENT
    gives them consecutive seqs, ending at last_insert_rowid (one executemany, not a call per row).
    """
    if not entries:
        return []
    conn.executemany(
        "INSERT INTO journal (ts, method, path, query, headers, body, status, operation_id, duration_ms)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e["ts"],
                e["method"],
                e["path"],
                e["query"],
                jsoncodec.dumps_str(e["headers"]),
                e["body"],
                e["status"],
                e["operation_id"],
                e["duration_ms"],
            )
            for e in entries
        ],
    )
    last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
    conn.execute("DELETE FROM journal WHERE seq <= ?", (last - keep,))
    return list(range(last - len(entries) + 1, last + 1))


def journal_set_durations(conn: sqlite3.Connection, updates: list[tuple[float, int]]) -> None:
    """Set duration_ms of journal rows by seq (rows already trimmed from the ring are skipped)."""
    for duration_ms, seq in updates:
        conn.execute("UPDATE journal SET duration_ms = ? WHERE seq = ?", (duration_ms, seq))


def journal_list(conn: sqlite3.Connection, filters: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    where, args = [], []
    for column in ("method", "path", "operation_id", "status"):
        if filters.get(column) is not None:
            where.append(f"{column} = ?")
            args.append(filters[column])
    if filters.get("since") is not None:
        where.append("seq > ?")
        args.append(filters["since"])
    sql = "SELECT * FROM journal" + (" WHERE " + " AND ".join(where) if where else "")
    rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
    return [
        {
            "seq": r["seq"],
            "ts": r["ts"],
            "method": r["method"],
            "path": r["path"],
            "query": r["query"],
            "headers": json.loads(r["headers"]),
            "body": r["body"],
            "status": r["status"],
            "operation_id": r["operation_id"],
            "duration_ms": r["duration_ms"],
        }
        for r in rows
    ]


def journal_clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM journal")


# ---------- meta / reset ----------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row["value"] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def wipe(conn: sqlite3.Connection, journal: bool = True, faults: bool = True) -> None:
    """Delete all chat data (and optionally journal and faults); the caller reseeds."""
    for table in CHAT_TABLES:
        conn.execute(f"DELETE FROM {table}")
    if journal:
        conn.execute("DELETE FROM journal")
    if faults:
        conn.execute("DELETE FROM faults")
