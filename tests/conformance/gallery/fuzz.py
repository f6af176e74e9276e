"""Schema-driven fuzzing (schemathesis): crashes and refused valid input."""

from __future__ import annotations

import io
from typing import Any

from tests.conformance.gallery.helpers import (
    App,
    Variant,
)
from tests.conformance.rewrite import wrap

# Each variant fuzzes only the operations its defect or variation touches (--fuzz-operations): the
# whole surface took ~20 s of a loaded machine per variant, and the others answer as the mock does,
# which the full fuzzing of tests/conformance/test_against_mock.py already judges.


def crash_at_max_limit(app: App) -> App:
    """An off-by-one crash: limit=100 (the documented maximum) answers 500 with an HTML page."""

    def crash(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if "limit=100" in env.get("QUERY_STRING", "").split("&"):
            return 500, [("Content-Type", "text/html")], b"<h1>Internal Server Error</h1>"
        return None

    return wrap(app, path=r"/v1/conversations$", method="GET", intercept=crash)


def rejects_non_ascii_names(app: App) -> App:
    """Schema-valid but refused: names outside ASCII answer 400 (a SHOULD-level finding of fuzzing)."""

    def refuse(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        length = int(env.get("CONTENT_LENGTH") or 0)
        raw = env["wsgi.input"].read(length)
        env["wsgi.input"] = io.BytesIO(raw)
        if raw and not raw.isascii() or b"\\u" in raw:
            body = b'{"code": "invalid_param", "message": "name: ASCII only", "status": 400}'
            return 400, [("Content-Type", "application/json")], body
        return None

    return wrap(app, path=r"/v1/conversations/[^/]+/name$", method="POST", intercept=refuse)


# Methods the server routes somewhere (405 where a path does not take one); any other it does not
# implement at all, and RFC 9110 says that is 501 Not Implemented.
KNOWN_METHODS = {"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"}


def not_implemented_methods(app: App) -> App:
    """501 (JSON envelope) for PATCH, TRACE, QUERY and any other method the server does not know."""

    def refuse(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if env.get("REQUEST_METHOD", "") in KNOWN_METHODS:
            return None
        body = b'{"code": "not_implemented", "message": "Method not implemented.", "status": 501}'
        return 501, [("Content-Type", "application/json")], body

    return wrap(app, intercept=refuse)


def refuses_extensionless_uploads_otherwise(app: App) -> App:
    """A file without an extension refused with 400 invalid_param, not the 415 unsupported_file_type
    the contract lists as a correct server's refusal of it (x-refuses-schema-valid)."""

    def refuse(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if not env.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
            return None  # authentication first, as the mock (and Dify) do
        length = int(env.get("CONTENT_LENGTH") or 0)
        raw = env["wsgi.input"].read(length)
        env["wsgi.input"] = io.BytesIO(raw)
        names = [part.split(b'"', 1)[0] for part in raw.split(b'filename="')[1:]]
        if any(b"." not in name for name in names):
            body = b'{"code": "invalid_param", "message": "file: a name with an extension", "status": 400}'
            return 400, [("Content-Type", "application/json")], body
        return None

    return wrap(app, path=r"/v1/files/upload$", method="POST", intercept=refuse)


USER_MAX, QUERY_MAX = 255, 10000  # the mock's (and the contract's fuzzing) ranges


def accepts_beyond_fuzz_bounds(app: App) -> App:
    """A real server's leniency: any length of `user` and `query`, any `task_id` (it only sets a flag).

    The mock enforces the contract's fuzzing ranges, so long values are cut to them before it sees
    them: the answer is the one a lenient server gives."""

    def cut(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(query.get("user"), str):
            query["user"] = query["user"][:USER_MAX] or query["user"]
        if isinstance(body, dict):
            if isinstance(body.get("user"), str) and len(body["user"]) > USER_MAX:
                body["user"] = body["user"][:USER_MAX]
            if isinstance(body.get("query"), str) and len(body["query"]) > QUERY_MAX:
                body["query"] = body["query"][:QUERY_MAX]
        return body

    def any_task(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        task = env.get("PATH_INFO", "").split("/")[-2]
        if len(task) > USER_MAX:
            return 200, [("Content-Type", "application/json")], b'{"result": "success"}'
        return None

    def make(app: App) -> App:
        lenient = wrap(app, request=cut)
        return wrap(lenient, path=r"/v1/chat-messages/[^/]+/stop$", method="POST", intercept=any_task)

    return make(app)


def clamps_conversation_limit(app: App) -> App:
    """A real bound ignored: `limit` outside 1..100 is clamped (200) instead of refused (400)."""

    def clamp(env: Any, body: Any, query: dict[str, str]) -> Any:
        if query.get("limit", "").lstrip("-").isdigit():
            query["limit"] = str(min(100, max(1, int(query["limit"]))))
        return body

    return wrap(app, path=r"/v1/conversations$", method="GET", request=clamp)


BROKEN: list[Variant] = [
    Variant(
        "crash_at_max_limit",
        "limit=100 crashes with an HTML 500",
        "fuzz",
        crash_at_max_limit,
        ("fuzz.operation",),
        ("--max-examples", "2", "--fuzz-operations", "listConversations"),
    ),
    Variant(
        "rejects_non_ascii_names",
        "schema-valid non-ASCII names refused (SHOULD)",
        "fuzz",
        rejects_non_ascii_names,
        ("fuzz.positive_acceptance",),
        # A generous time budget: under load the default one could stop fuzzing before the rename.
        (
            "--max-examples",
            "2",
            "--fuzz-max-time",
            "600",
            "--fuzz-operations",
            "sendChatMessage,renameConversation",
        ),
    ),
]

BROKEN.append(
    Variant(
        "refuses_extensionless_uploads_otherwise",
        "a schema-valid upload refused with a status and code the contract does not list for it (SHOULD)",
        "fuzz",
        refuses_extensionless_uploads_otherwise,
        ("fuzz.positive_acceptance",),
        ("--max-examples", "2", "--fuzz-max-time", "600", "--fuzz-operations", "uploadFile"),
    )
)

BROKEN.append(
    Variant(
        "clamps_conversation_limit",
        "conversation limit outside 1..100 clamped, not refused (a bound real servers enforce)",
        "fuzz",
        clamps_conversation_limit,
        ("fuzz.operation",),
        ("--max-examples", "2", "--fuzz-operations", "listConversations"),
    )
)

GOOD: list[Variant] = [
    Variant(
        "accepts_beyond_fuzz_bounds",
        "user and query of any length, task_id of any length accepted (fuzz-only bounds)",
        "fuzz",
        accepts_beyond_fuzz_bounds,
        extra=(
            "--max-examples",
            "2",
            "--fuzz-operations",
            "sendChatMessage,stopChatMessage,listConversations",
        ),
    ),
    Variant(
        "not_implemented_methods",
        "501 for methods the server does not implement (PATCH, TRACE, QUERY)",
        "fuzz",
        not_implemented_methods,
        extra=("--max-examples", "2", "--fuzz-operations", "listConversations,renameConversation,uploadFile"),
    ),
]
