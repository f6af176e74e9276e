"""Rendered template text -> chat messages, by reading `<message role="...">...</message>` tags.

Only two things are structural: an opening tag `<message` (followed by whitespace, `>` or `/`) and a
closing tag `</message` (followed by whitespace or `>`), both lowercase. Everything else, including
other `<` characters, is content. Inserted values can never produce either sequence: they are escaped
(`<` becomes `&lt;`), and the message helper neutralises raw values inside its block.
"""

from __future__ import annotations

import re

from payload_conversions.conversational import CHAT_ROLES
from payload_conversions.errors import ConversionError
from payload_conversions.escaping import unescape_content

_TAG_START = re.compile(r"<message(?=[\s>/])|</message(?=[\s>])")
_OPEN_TAG = re.compile(r"<message((?:\s+[^\s=>/\"']+\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*>")
_CLOSE_TAG = re.compile(r"</message\s*>")
_ATTRIBUTE = re.compile(r"\s+([^\s=>/\"']+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")
_BLANK = re.compile(r"[ \t]*")


def trim_content(raw: str) -> str:
    """The trimming rule for the text between a message's tags (before entities are decoded).

    1. If the text contains a newline and its first line holds only spaces/tabs, that line and its
       newline are removed (the line break after the opening tag).
    2. Then, if the text contains a newline and its last line holds only spaces/tabs, that line and
       the newline before it are removed (the line break before the closing tag).
    3. The indentation (spaces/tabs) of the first line that holds anything else is removed from the
       start of every line that begins with it: templates indent content, and an inserted multi-line
       value carries the template's indentation on its first line only.
    """
    text = raw
    first_break = text.find("\n")
    if first_break >= 0 and _BLANK.fullmatch(text, 0, first_break):
        text = text[first_break + 1 :]
    last_break = text.rfind("\n")
    if last_break >= 0 and _BLANK.fullmatch(text, last_break + 1):
        text = text[:last_break]
    lines = text.split("\n")
    first = next((line for line in lines if not _BLANK.fullmatch(line)), "")
    indent = first[: len(first) - len(first.lstrip(" \t"))]  # its leading blanks
    if indent:
        lines = [line[len(indent) :] if line.startswith(indent) else line for line in lines]
    return "\n".join(lines)


def _position(text: str, offset: int) -> str:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def _open_tag_role(text: str, start: int) -> tuple[str, int]:
    match = _OPEN_TAG.match(text, start)
    if not match:
        raise ConversionError(f"malformed <message> tag at {_position(text, start)}")
    attributes: dict[str, str] = {}
    for attr in _ATTRIBUTE.finditer(match.group(1)):
        name, value = attr.group(1), attr.group(2) if attr.group(2) is not None else attr.group(3)
        if name != "role" or name in attributes:
            raise ConversionError(f"unexpected attribute {name!r} at {_position(text, start)}", name)
        attributes[name] = unescape_content(value)
    role = attributes.get("role")
    if role is None:
        raise ConversionError(f"<message> tag without a role at {_position(text, start)}", "role")
    if role not in CHAT_ROLES:
        raise ConversionError(
            f"unknown role {role!r} at {_position(text, start)}; expected one of {', '.join(CHAT_ROLES)}",
            "role",
        )
    return role, match.end()


def parse_message_tags(text: str) -> list[dict]:
    """Rendered text -> [{role, content}, ...].

    Content is trimmed by `trim_content` and its entity references are decoded. Text outside the tags
    must be whitespace. A text with no tag at all is one user message (a plain prompt), and a text
    that is only whitespace gives no messages. Nested, unclosed, stray or malformed tags and unknown
    roles are refused with a ConversionError giving the position.
    """
    if not isinstance(text, str):
        raise ConversionError("rendered template must be a string")
    messages: list[dict] = []
    position = 0
    while True:
        tag = _TAG_START.search(text, position)
        outside_end = tag.start() if tag else len(text)
        outside = text[position:outside_end]
        if outside.strip() and (messages or tag):
            offset = position + len(outside) - len(outside.lstrip())
            raise ConversionError(f"text outside a <message> tag at {_position(text, offset)}")
        if tag is None:
            break
        if tag.group(0).startswith("</"):
            raise ConversionError(
                f"closing </message> without an opening tag at {_position(text, tag.start())}"
            )
        role, content_start = _open_tag_role(text, tag.start())
        close = _TAG_START.search(text, content_start)
        if close is None:
            raise ConversionError(f"<message> opened at {_position(text, tag.start())} is never closed")
        if not close.group(0).startswith("</"):
            raise ConversionError(f"<message> tags cannot nest ({_position(text, close.start())})")
        close_match = _CLOSE_TAG.match(text, close.start())
        if close_match is None:
            raise ConversionError(f"malformed </message> tag at {_position(text, close.start())}")
        content = unescape_content(trim_content(text[content_start : close.start()]))
        messages.append({"role": role, "content": content})
        position = close_match.end()
    if not messages and text.strip():
        return [{"role": "user", "content": unescape_content(trim_content(text))}]
    return messages
