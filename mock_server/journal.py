"""The request journal: entries are buffered per process and written to SQLite in batches.

One INSERT per request would make every request take the database's single write lock, which
halves throughput with two workers. Instead each process flushes its buffer every FLUSH_S in one
transaction. A request only hands over raw data (its WSGI header keys, query string and body bytes):
naming the headers, redacting credentials and decoding happen in the flusher, off the request path.
A read (or clear) flushes its own buffer and then waits one more period, so entries of
requests that finished before the read, in any worker, are visible to it.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
import time
import urllib.parse
import weakref
from typing import Any

from werkzeug.datastructures import EnvironHeaders

from mock_server import pid, store

FLUSH_S = 0.025
# The WSGI environ keys that carry request headers (what a request hands over, see `cooked`).
RAW_HEADER_KEYS = ("HTTP_", "CONTENT_TYPE", "CONTENT_LENGTH")


class Journal:
    def __init__(self, pool: Any, keep: int) -> None:
        self.pool = pool
        self.keep = keep
        self._buffer: list[dict[str, Any]] = []
        self._updates: list[tuple[float, int]] = []  # (duration_ms, seq) of entries already written
        self._lock = threading.Lock()
        self._pid = -1

    def _ensure_flusher(self) -> None:
        if self._pid == pid.current():
            return
        with self._lock:
            if self._pid == pid.current():
                return
            self._pid = pid.current()
            self._buffer, self._updates = [], []  # never flush entries inherited from a parent process
            thread = threading.Thread(
                target=_flush_while_alive, args=(weakref.ref(self),), name="chat-mock-journal", daemon=True
            )
            thread.start()

    def add(self, entry: dict[str, Any]) -> None:
        self._ensure_flusher()
        with self._lock:
            self._buffer.append(entry)

    def finish(self, entry: dict[str, Any], duration_ms: float) -> None:
        """Set the final duration of an entry added earlier (a stream, when it closes)."""
        with self._lock:
            entry["duration_ms"] = duration_ms
            if "seq" in entry:  # already written: update its row at the next flush
                self._updates.append((duration_ms, entry["seq"]))

    def flush(self) -> None:
        with self._lock:
            entries, self._buffer = self._buffer, []
            updates, self._updates = self._updates, []
        if not entries and not updates:
            return
        written = [e["duration_ms"] for e in entries]
        rows = [cooked(e) for e in entries]
        conn = self.pool.acquire()
        try:
            with store.transaction(conn):
                seqs = store.journal_add_many(conn, rows, self.keep)
                store.journal_set_durations(conn, updates)
        finally:
            self.pool.release(conn)
        with self._lock:  # a finish() that raced with this flush: its update goes out next time
            for entry, seq, duration in zip(entries, seqs, written, strict=True):
                entry["seq"] = seq
                if entry["duration_ms"] != duration:
                    self._updates.append((entry["duration_ms"], seq))

    def settle(self) -> None:
        """Make every finished request's entry visible: flush ours, wait for the other workers."""
        self.flush()
        time.sleep(FLUSH_S * 1.5)
        self.flush()


def _flush_while_alive(ref: weakref.ReferenceType[Journal]) -> None:
    """Flush every FLUSH_S until the journal is gone (its app was dropped: an app built by each test
    of a suite must not leave a thread behind that wakes 40 times a second forever)."""
    while True:
        time.sleep(FLUSH_S)
        journal = ref()
        if journal is None:
            return
        with contextlib.suppress(Exception):  # a locked or reset database: next tick
            journal.flush()
        del journal  # no strong reference while asleep


REDACTED = "<redacted>"
# A header or query parameter whose name says it carries a secret is redacted, judged by the shape of
# the name rather than a list: the name is split into words (at `-`, `_`, `.`, `[`, `]`, spaces and
# camelCase humps: `clientSecret` -> client, secret; `X-Accesstoken` -> x, accesstoken; `api_key[]` ->
# api, key), and it is a secret when a word
_SECRET_IN_WORD = ("token", "secret", "passw", "passphrase", "jwt", "bearer", "auth", "credential",
                   "cookie", "session", "signature", "apikey", "privatekey")  # fmt: skip
# ... contains one of these (`accesstoken`, `authentication`, `oauth`, `sessionid`), or is one of
_SECRET_WORDS = frozenset({"key", "keys", "sig", "sign", "pass", "pwd", "pin", "otp", "sid", "hmac", "csrf"})
# ... or ends in `key` (`apikey`, `accesskey`: `keyword` does not). The mock's own pacing headers are
# no secret (X-Mock-Token-Interval-Ms, X-Mock-Seed; its admin token is one).
_PACING_HEADER = re.compile(r"x-mock-(?!admin-token$)", re.IGNORECASE)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
# Query pairs are separated by `&` or `;` (the W3C's old recommendation, still honoured by some servers).
_QUERY_PAIR = re.compile(r"(^|[&;])([^=&;]*)=([^&;]*)")


def _secret_word(word: str) -> bool:
    return word in _SECRET_WORDS or word.endswith("key") or any(stem in word for stem in _SECRET_IN_WORD)


@functools.lru_cache(maxsize=512)  # clients send few distinct names; a bounded cache of them
def is_secret(name: str) -> bool:
    if _PACING_HEADER.match(name):
        return False
    return any(_secret_word(w.lower()) for w in _WORD.findall(name))


@functools.lru_cache(maxsize=512)
def _header_name(environ_key: str) -> tuple[str, bool]:
    """(name, is_secret) of a WSGI environ header key, as werkzeug names it (HTTP_X_API_KEY ->
    X-Api-Key); cached, since clients send few distinct headers and this runs for every entry."""
    name = next(iter(EnvironHeaders({environ_key: "-"}).keys()))
    return name, is_secret(name)


def named_headers(raw: dict[str, Any]) -> dict[str, str]:
    """The header keys of a WSGI environ (others are skipped) to header names, credential values
    redacted."""
    out = {}
    for key, value in raw.items():
        if not key.startswith(RAW_HEADER_KEYS):
            continue
        if not value and key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue  # what werkzeug leaves out too: an empty CGI variable is no header
        name, secret = _header_name(key)
        out[name] = REDACTED if secret else value
    return out


def redact_query(query: str) -> str:
    """A raw query string with the values of credential parameters (`?api_key=`) replaced."""
    if "=" not in query:
        return query

    def one(match: re.Match[str]) -> str:
        sep, name, value = match.groups()
        decoded = urllib.parse.unquote_plus(name)
        return f"{sep}{name}={REDACTED if is_secret(decoded) else value}"

    return _QUERY_PAIR.sub(one, query)


def cooked(entry: dict[str, Any]) -> dict[str, Any]:
    """A raw entry (see app._journal) as the journal stores it: named headers, secrets redacted."""
    if not entry.get("raw"):
        return entry
    body = entry["body"]
    return {
        **entry,
        "query": redact_query(entry["query"]),
        "headers": named_headers(entry["headers"]),
        "body": body.decode("utf-8", "replace") if isinstance(body, bytes) else body,
    }


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
