"""SQLite tables of the app-level (admin) data: end users, annotations and the annotation reply
setting with its jobs. All of it is scoped to the API key (the app), none of it to an end user.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

APP_SCHEMA = """
CREATE TABLE IF NOT EXISTS end_users (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, user TEXT NOT NULL, anonymous INTEGER NOT NULL,
    created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS annotations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, api_key TEXT NOT NULL,
    question TEXT NOT NULL, answer TEXT NOT NULL, hit_count INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS annotations_app ON annotations (api_key, created_at DESC, seq DESC);
CREATE TABLE IF NOT EXISTS annotation_settings (
    api_key TEXT PRIMARY KEY, enabled INTEGER NOT NULL, score_threshold REAL NOT NULL,
    provider TEXT NOT NULL, model TEXT NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS annotation_jobs (
    id TEXT PRIMARY KEY, api_key TEXT NOT NULL, action TEXT NOT NULL, created_at REAL NOT NULL);
"""

APP_TABLES = ("end_users", "annotations", "annotation_settings", "annotation_jobs")


# ---------- end users ----------


def remember_end_user(conn: sqlite3.Connection, end_user: str, key: str, user: str, anonymous: bool) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO end_users (id, api_key, user, anonymous, created_at) VALUES (?, ?, ?, ?, ?)",
        (end_user, key, user, int(anonymous), time.time()),
    )


def get_end_user(conn: sqlite3.Connection, key: str, end_user: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM end_users WHERE id = ? AND api_key = ?", (end_user, key)).fetchone()


def users_with_data(conn: sqlite3.Connection, key: str) -> list[sqlite3.Row]:
    """Every user of the app that owns data (seeded or written before the end user was recorded),
    with the time of their first conversation."""
    return conn.execute(
        "SELECT user, MIN(created_at) AS created_at FROM ("
        " SELECT user, created_at FROM conversations WHERE api_key = ?"
        " UNION ALL SELECT user, created_at FROM uploads WHERE api_key = ?) GROUP BY user",
        (key, key),
    ).fetchall()


# ---------- annotations ----------


def annotation_row(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "question": row["question"],
        "answer": row["answer"],
        "hit_count": row["hit_count"],
        "created_at": int(row["created_at"]),
    }


def insert_annotation(
    conn: sqlite3.Connection, key: str, annotation_id: str, question: str, answer: str
) -> None:
    conn.execute(
        "INSERT INTO annotations (id, api_key, question, answer, created_at) VALUES (?, ?, ?, ?, ?)",
        (annotation_id, key, question, answer, time.time()),
    )


def get_annotation(conn: sqlite3.Connection, key: str, annotation_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM annotations WHERE id = ? AND api_key = ?", (annotation_id, key)
    ).fetchone()


def update_annotation(
    conn: sqlite3.Connection, key: str, annotation_id: str, question: str, answer: str
) -> bool:
    cur = conn.execute(
        "UPDATE annotations SET question = ?, answer = ? WHERE id = ? AND api_key = ?",
        (question, answer, annotation_id, key),
    )
    return cur.rowcount > 0


def delete_annotation(conn: sqlite3.Connection, key: str, annotation_id: str) -> bool:
    cur = conn.execute("DELETE FROM annotations WHERE id = ? AND api_key = ?", (annotation_id, key))
    return cur.rowcount > 0


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_annotations(
    conn: sqlite3.Connection, key: str, page: int, limit: int, keyword: str
) -> tuple[list[dict[str, Any]], int]:
    """One page, newest first, and the number of all matches (`keyword` in question or answer)."""
    where, args = "api_key = ?", [key]
    if keyword:
        pattern = f"%{_escape_like(keyword)}%"
        where += " AND (question LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\')"
        args += [pattern, pattern]
    total = conn.execute(f"SELECT COUNT(*) FROM annotations WHERE {where}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT * FROM annotations WHERE {where} ORDER BY created_at DESC, seq DESC LIMIT ? OFFSET ?",
        (*args, limit, (page - 1) * limit),
    ).fetchall()
    return [annotation_row(r) for r in rows], int(total)


def annotation_questions(conn: sqlite3.Connection, key: str) -> list[sqlite3.Row]:
    """(id, question) of the app's annotations, newest first (what the annotation reply compares)."""
    return conn.execute(
        "SELECT id, question FROM annotations WHERE api_key = ? ORDER BY created_at DESC, seq DESC", (key,)
    ).fetchall()


def count_hit(conn: sqlite3.Connection, annotation_id: str) -> None:
    conn.execute("UPDATE annotations SET hit_count = hit_count + 1 WHERE id = ?", (annotation_id,))


# ---------- annotation reply setting and its jobs ----------


def get_reply_setting(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM annotation_settings WHERE api_key = ?", (key,)).fetchone()


def set_reply_setting(
    conn: sqlite3.Connection, key: str, enabled: bool, threshold: float, provider: str, model: str
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO annotation_settings"
        " (api_key, enabled, score_threshold, provider, model, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        (key, int(enabled), threshold, provider, model, time.time()),
    )


def insert_job(conn: sqlite3.Connection, key: str, job_id: str, action: str) -> None:
    conn.execute(
        "INSERT INTO annotation_jobs (id, api_key, action, created_at) VALUES (?, ?, ?, ?)",
        (job_id, key, action, time.time()),
    )


def get_job(conn: sqlite3.Connection, key: str, job_id: str, action: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM annotation_jobs WHERE id = ? AND api_key = ? AND action = ?", (job_id, key, action)
    ).fetchone()
