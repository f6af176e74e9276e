"""SQLite table of conversation variables: the variables an app declares, one row per variable of
each conversation (made when the conversation's variables are first read or written)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from typing import Any

VARIABLES_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversation_variables (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, conversation_id TEXT NOT NULL,
    name TEXT NOT NULL, value_type TEXT NOT NULL, value TEXT NOT NULL, description TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS conversation_variables_conversation
    ON conversation_variables (conversation_id, created_at, seq);
"""

VARIABLE_TABLES = ("conversation_variables",)


def variable_id(conversation_id: str, name: str) -> str:
    """Stable: the same conversation's variable of the same name has the same id in every worker."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"chat-mock-variable:{conversation_id}:{name}"))


def ensure_variables(
    conn: sqlite3.Connection, conversation_id: str, created_at: float, declared: list[dict[str, Any]]
) -> None:
    """Give the conversation the app's declared variables (with their initial values) once."""
    for entry in declared:
        conn.execute(
            "INSERT OR IGNORE INTO conversation_variables"
            " (id, conversation_id, name, value_type, value, description, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                variable_id(conversation_id, entry["name"]),
                conversation_id,
                entry["name"],
                entry["value_type"],
                json.dumps(entry.get("value"), ensure_ascii=False),
                entry.get("description"),
                created_at,
                created_at,
            ),
        )


def variable_row(row: sqlite3.Row) -> dict[str, Any]:
    """A stored variable as ConversationVariable: the value as text, as real servers answer it."""
    value = json.loads(row["value"])
    return {
        "id": row["id"],
        "name": row["name"],
        "value_type": row["value_type"],
        "value": value if isinstance(value, str) or value is None else json.dumps(value, ensure_ascii=False),
        "description": row["description"],
        "created_at": int(row["created_at"]),
        "updated_at": int(row["updated_at"]),
    }


def list_variables(
    conn: sqlite3.Connection, conversation_id: str, last_id: str | None, limit: int, name_part: str | None
) -> tuple[list[dict[str, Any]], bool] | None:
    """A page, oldest first; None when `last_id` is not one of the conversation's variables."""
    where, args = "conversation_id = ?", [conversation_id]
    if name_part:
        where += " AND instr(lower(name), ?) > 0"
        args.append(name_part.lower())
    if last_id:
        last = conn.execute(
            f"SELECT created_at, seq FROM conversation_variables WHERE {where} AND id = ?", (*args, last_id)
        ).fetchone()
        if last is None:
            return None
        where += " AND (created_at, seq) > (?, ?)"
        args += [last["created_at"], last["seq"]]
    rows = conn.execute(
        f"SELECT * FROM conversation_variables WHERE {where} ORDER BY created_at, seq LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    return [variable_row(r) for r in rows[:limit]], len(rows) > limit


def get_variable(conn: sqlite3.Connection, conversation_id: str, var_id: str) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT * FROM conversation_variables WHERE id = ? AND conversation_id = ?", (var_id, conversation_id)
    ).fetchone()


def set_value(conn: sqlite3.Connection, var_id: str, value: Any) -> None:
    conn.execute(
        "UPDATE conversation_variables SET value = ?, updated_at = ? WHERE id = ?",
        (json.dumps(value, ensure_ascii=False), time.time(), var_id),
    )


def delete_for_conversation(conn: sqlite3.Connection, conversation_id: str) -> None:
    conn.execute("DELETE FROM conversation_variables WHERE conversation_id = ?", (conversation_id,))
