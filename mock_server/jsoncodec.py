"""JSON in and out of the mock's hot paths: orjson where it can, the json module where it cannot.

orjson encodes a page of conversations about 8x faster than json.dumps and decodes a stored row
4x faster (see bench/side_by_side.py); it refuses what json takes (integers beyond 64 bits, lone
surrogates, NaN on input), and those values fall back to the json module instead of failing.
Output is compact UTF-8 (non-ASCII characters as themselves, like json's ensure_ascii=False).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON bytes of `value`."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):  # a big int or lone surrogate: json copes (\\u escapes)
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def fragment(text: str | bytes) -> Any:
    """JSON text that dumps() embeds as it is (orjson.Fragment): for rows SQLite already encoded.

    Only for payloads whose other values orjson always encodes (the json-module fallback of dumps()
    cannot embed a fragment)."""
    return orjson.Fragment(text)


def dumps_str(value: Any) -> str:
    """dumps() as text (for SQLite TEXT columns)."""
    return dumps(value).decode("utf-8")


def loads(data: str | bytes) -> Any:
    """Parse JSON text; NaN/Infinity and other json-module extensions are still accepted."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)
