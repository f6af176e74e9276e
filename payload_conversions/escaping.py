r"""Escaping of inserted values and decoding of message content.

Escaping is exactly handlebars.js's `escapeExpression` (`& < > " ' \` =`), so that `{{var}}` renders
byte-for-byte like handlebars.js. Decoding accepts only complete entity references (with the `;`, as
XML does), so a bare `&` or `&copy` typed in a template stays literal text.
"""

from __future__ import annotations

import html
import re
from html.entities import html5

_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "'": "&#x27;",
    "`": "&#x60;",
    "=": "&#x3D;",
}
_BAD_CHARS = re.compile(r"[&<>\"'`=]")
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});")


def escape_content(value: str) -> str:
    """Escape a value for insertion into a template, as handlebars.js's `{{var}}` does.

    After escaping, the value contains no `<`, so it can never open or close a message tag.
    """
    return _BAD_CHARS.sub(lambda m: _ESCAPES[m.group(0)], value)


def unescape_content(text: str) -> str:
    """Decode character references in message content (one pass, so `&amp;lt;` gives `&lt;`).

    Unknown names (`&bogus;`) and references without `;` stay as they are.
    """
    return _ENTITY.sub(_decode, text)


def _decode(match: re.Match[str]) -> str:
    reference = match.group(0)
    if reference[1] == "#":
        return html.unescape(reference)
    # Exact names only: html.unescape would decode the known prefix of `&notice;` as `¬ice;`.
    return html5.get(reference[1:], reference)
