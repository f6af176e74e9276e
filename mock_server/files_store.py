"""SQLite tables of uploaded files (their bytes included) and of the files attached to messages.

An upload belongs to (api key, user): only its uploader can attach it to a message. A message file
is one attachment of one message; reading an upload back goes through the messages it is attached
to, as on real servers (a file is readable by the app whose message holds it).
"""

from __future__ import annotations

import sqlite3
from typing import Any

FILES_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, user TEXT NOT NULL, name TEXT NOT NULL,
    extension TEXT NOT NULL, mime_type TEXT NOT NULL, kind TEXT NOT NULL, size INTEGER NOT NULL,
    data BLOB NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS message_files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, message_id TEXT NOT NULL,
    api_key TEXT NOT NULL, type TEXT NOT NULL, transfer_method TEXT NOT NULL, url TEXT,
    upload_file_id TEXT, filename TEXT NOT NULL, mime_type TEXT, size INTEGER,
    belongs_to TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS message_files_message ON message_files (message_id, seq);
CREATE INDEX IF NOT EXISTS message_files_upload ON message_files (upload_file_id);
"""

FILE_TABLES = ("uploads", "message_files")

_UPLOAD_COLUMNS = "id, api_key, user, name, extension, mime_type, kind, size, created_at"


def insert_upload(conn: sqlite3.Connection, key: str, user: str, upload: dict[str, Any], data: bytes) -> None:
    conn.execute(
        "INSERT INTO uploads (id, api_key, user, name, extension, mime_type, kind, size, data, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            upload["id"],
            key,
            user,
            upload["name"],
            upload["extension"],
            upload["mime_type"],
            upload["kind"],
            len(data),
            sqlite3.Binary(data),
            upload["created_at"],
        ),
    )


def get_upload(conn: sqlite3.Connection, upload_id: str) -> sqlite3.Row | None:
    """An upload's record (without its bytes), whoever uploaded it."""
    return conn.execute(f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE id = ?", (upload_id,)).fetchone()


def upload_bytes(conn: sqlite3.Connection, upload_id: str) -> bytes:
    row = conn.execute("SELECT data FROM uploads WHERE id = ?", (upload_id,)).fetchone()
    return bytes(row["data"]) if row else b""


def insert_message_files(
    conn: sqlite3.Connection, key: str, message_id: str, files: list[dict[str, Any]]
) -> None:
    for f in files:
        conn.execute(
            "INSERT INTO message_files (id, message_id, api_key, type, transfer_method, url, upload_file_id,"
            " filename, mime_type, size, belongs_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f["id"],
                message_id,
                key,
                f["type"],
                f["transfer_method"],
                f.get("url"),
                f.get("upload_file_id"),
                f["filename"],
                f.get("mime_type"),
                f.get("size"),
                f.get("belongs_to", "user"),
            ),
        )


def files_of_messages(conn: sqlite3.Connection, message_ids: list[str]) -> dict[str, list[sqlite3.Row]]:
    """The attached files of each message, in the order they were sent."""
    out: dict[str, list[sqlite3.Row]] = {}
    if not message_ids:
        return out
    marks = ",".join("?" * len(message_ids))
    rows = conn.execute(
        f"SELECT * FROM message_files WHERE message_id IN ({marks}) ORDER BY seq", tuple(message_ids)
    ).fetchall()
    for row in rows:
        out.setdefault(row["message_id"], []).append(row)
    return out


def apps_holding(conn: sqlite3.Connection, upload_id: str) -> set[str]:
    """The api keys (apps) with a message that the upload is attached to."""
    rows = conn.execute(
        "SELECT DISTINCT api_key FROM message_files WHERE upload_file_id = ?", (upload_id,)
    ).fetchall()
    return {r["api_key"] for r in rows}
