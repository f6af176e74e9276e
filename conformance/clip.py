"""Shortening text for people: cut the middle, never the end.

What tells two pieces of evidence apart is mostly at the end of a value (the label of a user
`conformance-<run>-history`, the `limit` and `first_id` after a conversation id, the last event of
a stream), so a long value keeps its head and its tail and says how much was left out between.
"""

from __future__ import annotations

import re

ELLIPSIS = "…"
# The mark left in the middle of a long text: a reader sees it, and code that must have the whole
# text (a curl replay of a request body) can tell it was cut.
CUT = re.compile(r" \[\.\.\. (\d+) of (\d+) chars not shown \.\.\.\] ")


def middle(text: str, width: int) -> str:
    """`text` at most `width` characters long: its head and tail around one "…" (60% head)."""
    if len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    head = (width - 1) * 3 // 5
    tail = width - 1 - head
    return text[:head] + ELLIPSIS + (text[-tail:] if tail else "")


def body(text: str, limit: int) -> str:
    """A body for the evidence: whole up to `limit` characters; longer, its first three quarters and
    its last quarter of `limit` with a mark in between saying how much is not shown."""
    if len(text) <= limit:
        return text
    head = limit * 3 // 4
    tail = limit - head
    return f"{text[:head]} [... {len(text) - head - tail} of {len(text)} chars not shown ...] {text[-tail:]}"


def was_cut(text: str) -> bool:
    """Whether `body` cut this text (the old end-cut form `... (N chars)` counts too)."""
    return bool(CUT.search(text) or re.search(r"\.\.\. \(\d+ chars\)$", text))
