"""Conversation names derived from what was said."""

from __future__ import annotations

NAME_LENGTH = 40


def derive_name(query: str) -> str:
    """A conversation name from its first query: the first line, at most 40 characters."""
    text = " ".join(query.split())
    return text if len(text) <= NAME_LENGTH else text[: NAME_LENGTH - 3].rstrip() + "..."
