"""What a request may carry: strict JSON bodies, ASCII integers, finite bounded numbers, and short
echoes of client values in error messages.

Every surface and the admin API read client data through these helpers, so one rule holds
everywhere and no hostile value (a lone surrogate, NaN, a document nested 1,000 levels deep, a
10 MB string) gets past the edge of the mock: it is refused there with a 400 that says why.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge

MAX_JSON_DEPTH = 64  # nesting levels of a JSON (or YAML) document; a chat body needs fewer than 10
ECHO_CHARS = 80  # characters of a client value an error message repeats
MAX_MESSAGE_CHARS = 1000  # an error message is never longer than this

# Upper bounds of every number a client can give the mock (per-request headers, X-Mock-Fault
# directives, stored faults). Delays are bounded so that no request waits forever.
BOUNDS: dict[str, tuple[float, float]] = {
    "latency_ms": (0, 600_000),  # 10 minutes
    "stall_s": (0, 3_600),  # and at most --stall-max-s
    "retry_after": (0, 86_400),
    "estimated_time": (0, 86_400),
    "status": (400, 599),
    "disconnect_after": (0, 1_000_000),
    "malformed_after": (0, 1_000_000),
    "stall_after": (0, 1_000_000),
    "error_after": (0, 1_000_000),
    "X-Mock-TTFT-Ms": (0, 600_000),
    "X-Mock-Token-Interval-Ms": (0, 60_000),
    "X-Mock-Jitter-Ms": (0, 60_000),
    "X-Mock-Seed": (0, 2**63 - 1),
}

_ASCII_INT = re.compile(r"-?[0-9]{1,18}")  # [0-9], not \d: \d also matches other scripts' digits
_ASCII_NUMBER = re.compile(r"-?[0-9]{1,18}(?:\.[0-9]{1,18})?(?:[eE][+-]?[0-9]{1,3})?")


class InputError(ValueError):
    """A refused input: `field` names it (dotted), `status` is 400 or 413, `code` is the Chat App
    error code (a body that is no JSON at all is Flask's `bad_request` on Dify)."""

    def __init__(
        self, message: str, field: str = "body", status: int = 400, code: str = "invalid_param"
    ) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
        self.code = code


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def echo(value: Any) -> str:
    """A client value as an error message may show it: its repr, clipped."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return f"{value[:ECHO_CHARS]!r}... ({len(value)} characters)"
    return clip(repr(value))


def ascii_int(raw: str) -> int | None:
    """`raw` as an integer when it is ASCII digits with an optional minus sign, else None.

    int() also takes ' 5', '1_0' and Arabic-Indic digits; a URL's integer takes none of those.
    """
    return int(raw) if _ASCII_INT.fullmatch(raw) else None


def ascii_number(raw: str) -> float | None:
    """`raw` as a finite number when it is ASCII decimal notation, else None (float() also takes
    'nan', 'inf', '1_0' and other scripts' digits)."""
    if not _ASCII_NUMBER.fullmatch(raw):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def bounded(name: str, raw: Any, integer: bool = False) -> int | float:
    """`raw` (a string or a JSON number) as a finite number within BOUNDS[name]; InputError otherwise."""
    low, high = BOUNDS[name]
    kind = "an integer" if integer else "a number"
    wanted = f"{name} must be {kind} within {_fmt(low)}..{_fmt(high)}"
    if isinstance(raw, bool):
        value: int | float | None = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        value = raw if not integer or raw.is_integer() else None
    elif isinstance(raw, str):
        text = raw.strip(" \t")
        value = ascii_int(text) if integer else ascii_number(text)
    else:
        value = None
    if value is None or not math.isfinite(value) or not low <= value <= high:
        raise InputError(f"{wanted}, got {echo(raw)}", name)
    return int(value) if integer else float(value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


# ---------- JSON ----------


class _RefusedNumber(ValueError):
    """A number Python's parser takes but JSON has not (NaN, Infinity, an overflow): a mock rule."""


def _refuse_constant(name: str) -> Any:
    raise _RefusedNumber(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedNumber(f"the number {clip(text)} is out of range")
    return value


# The Chat App code of a body that does not parse as JSON: Dify's Flask answers it 400 `bad_request`
# (R-cap chatflow-features-on/015-chat_body_not_json.json); what parses but is refused is invalid_param.
NOT_JSON = "bad_request"

# what json.loads(text, parse_constant=..., parse_float=...) builds on every call, built once
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_json(raw: bytes) -> Any:
    """A JSON document from a request body, or InputError.

    Strict where Python's json module is lenient: the body must be UTF-8 (json.loads(bytes) would
    guess UTF-16 or UTF-32), NaN, Infinity and numbers that overflow to infinity are refused, and
    so is a document nested deeper than MAX_JSON_DEPTH or holding a lone surrogate (valid JSON
    escapes that no UTF-8 text can carry: stored, they would break every later answer).
    """
    if raw[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark: RFC 8259 lets parsers ignore it
        raw = raw[3:]
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in raw[:4]:
        raise InputError("the JSON body must be UTF-8 (RFC 8259); this one looks like UTF-16 or UTF-32")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"the JSON body is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from exc
    if not text.strip():
        raise InputError("the JSON body is empty", code=NOT_JSON)
    try:
        doc = _DECODER.decode(text)
    except RecursionError as exc:
        raise InputError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels") from exc
    except ValueError as exc:
        code = "invalid_param" if isinstance(exc, _RefusedNumber) else NOT_JSON
        raise InputError(f"invalid JSON ({clip(str(exc), 200)})", code=code) from exc
    check_tree(doc, nesting=text.count("[") + text.count("{"), escapes="\\u" in text)
    return doc


def check_tree(doc: Any, nesting: int | None = None, escapes: bool = True) -> None:
    """Refuse a parsed document nested deeper than MAX_JSON_DEPTH, or with a string (or key) that
    is not valid Unicode text. `nesting` (containers in the text) and `escapes` (whether the text
    has \\u escapes) let the common small body skip the walk."""
    if (nesting is not None and nesting <= MAX_JSON_DEPTH) and not escapes:
        return
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(doc, 0, ())]
    while stack:
        value, depth, path = stack.pop()
        if isinstance(value, str):
            if escapes and not _is_text(value):
                raise InputError(_LONE, _dotted(path))
            continue
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise InputError(f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                if escapes and isinstance(key, str) and not _is_text(key):
                    raise InputError(f"a key {_LONE}", _dotted(path))
                stack.append((item, depth + 1, (*path, key)))
        else:
            stack.extend((item, depth + 1, (*path, i)) for i, item in enumerate(value))


_LONE = "contains a lone UTF-16 surrogate (\\ud800-\\udfff), which is not valid Unicode text"


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(clip(str(p), 40) for p in path) or "body"


def read_body(request: Any) -> bytes:
    """The request's body; one over the size cap (the request's max_content_length: MAX_CONTENT_LENGTH,
    or its operation's OPERATION_BODY_BYTES) is a 413 InputError. Read once per request: later calls
    (the journal's) get the same bytes.

    A body with a Content-Length within the cap is read in one call from the WSGI input (werkzeug's
    reader took a quarter of a chat message's validation: its stream wrapper, and a read in chunks
    through the worker's body deadline); a short one is werkzeug's ClientDisconnected, as before. A
    chunked body has no Content-Length to refuse up front, and werkzeug's reader stops at the cap
    without saying so: a body that fills the cap is over it.
    """
    environ = request.environ
    raw = environ.get(BODY_KEY)
    if raw is not None:
        return raw
    cap = request.max_content_length
    declared = environ.get("CONTENT_LENGTH") or ""
    if declared.isascii() and declared.isdigit() and "HTTP_TRANSFER_ENCODING" not in environ:
        length = int(declared)
        if cap is None or length <= cap:
            raw = environ["wsgi.input"].read(length) if length else b""
            if len(raw) != length:
                raise ClientDisconnected()
            environ[BODY_KEY] = raw
            return raw
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise InputError(too_large(cap), status=413) from exc
    if cap is not None and request.content_length is None and len(raw) >= cap:
        raise InputError(too_large(cap), status=413)
    environ[BODY_KEY] = raw
    return raw


BODY_KEY = "chat_mock.body"  # the WSGI environ key of a body read_body has read


TOO_LARGE = "The request body is too large."
# Operations whose bodies are capped below MAX_CONTENT_LENGTH (64 MB, set for uploads): a body is
# refused from its Content-Length before a byte of it is read. A conversation variable's value was
# stored at any size (60 MB: other requests of the worker waited 5.4 s while it was parsed and stored).
OPERATION_BODY_BYTES: dict[str, int] = {"updateConversationVariable": 1024 * 1024}


def too_large(cap: int | None) -> str:
    """What a 413 says: the generic sentence, with the cap when there is one."""
    if cap is None:
        return TOO_LARGE
    shown = f"{cap // 2**20} MB" if cap % 2**20 == 0 and cap >= 16 * 2**20 else f"{cap // 1024} KB"
    return f"{TOO_LARGE[:-1]} (at most {shown})."


def read_json(request: Any) -> Any:
    """The request's JSON body (see parse_json and read_body)."""
    return parse_json(read_body(request))
