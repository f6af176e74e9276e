"""The reference server's behaviours: what a real Dify 1.12.1 API server does where the mock differs.

Measured on a real server (../shared/reference/real-dify-captures/, its README lists the facts).
GOOD holds the legal ways it differs (the suite must pass each one); BROKEN its known defects (the
suite must catch each one and label it with the reference's defect, from
fixtures/reference-defects.yaml). `dify_1_12_1` chains all of them: a server that behaves like the
captures, which tests/conformance/test_reference_server.py judges with every area.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.harness import KEY, OTHER_APP_ARGS, OTHER_KEY, mock_app
from tests.conformance.rewrite import chain, frame_json, frames, wrap

Answer = tuple[int, list[tuple[str, str]], bytes] | None
FUZZ = ("--max-examples", "2")  # the fuzzing variants: a few examples per operation are enough


def fuzzing(operations: str) -> tuple[str, ...]:
    """FUZZ over the operations a variant's behaviour shows in (see gallery/fuzz.py)."""
    return (*FUZZ, "--fuzz-operations", operations)


JSON = [("Content-Type", "application/json")]
# What Flask answers for a path no route matches: an HTML page, not the API's JSON envelope.
HTML_404 = (
    b"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"
    b"<p>No route here.</p>\n"
)


def _error(status: int, code: str, message: str) -> Answer:
    return status, JSON, json.dumps({"code": code, "message": message, "status": status}).encode()


def _authorized(env: Any) -> bool:
    """The request carries one of the gallery apps' keys (the real server checks the key first)."""
    return env.get("HTTP_AUTHORIZATION", "") in (f"Bearer {KEY}", f"Bearer {OTHER_KEY}")


def _query(env: Any) -> dict[str, str]:
    return dict(parse_qsl(env.get("QUERY_STRING", ""), keep_blank_values=True))


def _raw_body(env: Any) -> bytes:
    """The request body, read without consuming it."""
    length = int(env.get("CONTENT_LENGTH") or 0)
    raw = env["wsgi.input"].read(length) if length else b""
    env["wsgi.input"] = io.BytesIO(raw)
    return raw


def _json_body(env: Any) -> Any:
    try:
        return json.loads(_raw_body(env) or b"null")
    except ValueError:
        return None


def two_apps(app: App) -> App:  # noqa: ARG001 - the variant's own mock replaces the default one
    """The mock serving the gallery key and a second app's key (each key is its own app)."""
    return mock_app(api_keys=[KEY, OTHER_KEY])


def on_chatflow(make: Callable[[App], App]) -> Callable[[App], App]:
    """The behaviour on the mock whose gallery key is the chatflow app (what the captures ran)."""
    return lambda _app: make(mock_app(api_keys=[KEY, OTHER_KEY], app_bindings={KEY: "chatflow"}))


# ---------------------------------------------------------------- legal behaviours


def end_users_not_offered(app: App) -> App:
    """GET /end-users/{id} does not exist in 1.12.1 (added later): Flask's HTML 404 for any id."""
    return wrap(
        app, path=r"/v1/end-users/", intercept=lambda env: (404, [("Content-Type", "text/html")], HTML_404)
    )


def audio_switched_off(app: App) -> App:
    """Speech to text and text to speech off in /parameters; both refuse before reading the request."""

    def switches(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            body["speech_to_text"] = {"enabled": False}
            body["text_to_speech"] = {"enabled": False, "voice": "", "language": ""}
        return code, body

    params = wrap(app, path=r"/v1/parameters$", json_response=switches)
    stt = wrap(
        params,
        path=r"/v1/audio-to-text$",
        method="POST",
        intercept=lambda env: (
            _error(400, "invalid_param", "Speech to text is not enabled") if _authorized(env) else None
        ),
    )
    return wrap(
        stt,
        path=r"/v1/text-to-audio$",
        method="POST",
        intercept=lambda env: (
            _error(400, "invalid_param", "TTS is not enabled") if _authorized(env) else None
        ),
    )


def audio_missing_part_key_error(app: App) -> App:
    """No `file` part in speech to text: werkzeug's KeyError answer, 400 `bad_request_key_error`."""

    def missing(env: Any) -> Answer:
        if not _authorized(env) or b'name="file"' in _raw_body(env):
            return None
        return _error(
            400,
            "bad_request_key_error",
            "The browser (or proxy) sent a request that this server could not understand.",
        )

    return wrap(app, path=r"/v1/audio-to-text$", method="POST", intercept=missing)


def naive_feedback_times(app: App) -> App:
    """GET /app/feedbacks answers `created_at`/`updated_at` without an offset (`2026-12-07T16:47:59`)."""

    def naive(env: Any, code: int, body: Any) -> tuple[int, Any]:
        for item in (body or {}).get("data") or [] if code == 200 and isinstance(body, dict) else []:
            for name in ("created_at", "updated_at"):
                if isinstance(item.get(name), str):
                    item[name] = re.sub(r"(\.\d+)?(Z|[+-]\d\d:\d\d)$", "", item[name])
        return code, body

    return wrap(app, path=r"/v1/app/feedbacks$", json_response=naive)


def remote_urls_unreachable(app: App) -> App:
    """An offline deployment: a `remote_url` file cannot be fetched, 400 `invalid_param`."""

    def refuse(env: Any) -> Answer:
        body = _json_body(env) if _authorized(env) else None
        files = body.get("files") if isinstance(body, dict) else None
        remote = [f for f in files or [] if isinstance(f, dict) and f.get("transfer_method") == "remote_url"]
        if not remote:
            return None
        return _error(400, "invalid_param", f"Reached maximum retries (1) for URL {remote[0].get('url')}")

    return wrap(app, path=r"/v1/chat-messages$", method="POST", intercept=refuse)


def no_allow_on_405(app: App) -> App:
    """405 answers without the `Allow` header (an RFC 9110 SHOULD no client of this API reads)."""

    def strip(env: Any, start_response: Any) -> Any:
        def sr(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("405"):
                hdrs = [h for h in hdrs if h[0].lower() != "allow"]
            return start_response(status, hdrs, exc_info)

        return app(env, sr)

    return strip


UUID_SEGMENT = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Routes whose id is a <uuid:...> converter on the real server (task ids are plain strings there).
UUID_ROUTES = re.compile(
    r"^/v1/(conversations/(?P<a>[^/]*)(/name|/variables(/(?P<b>[^/]*))?)?"
    r"|messages/(?P<c>[^/]*)/(feedbacks|suggested)|files/(?P<d>[^/]*)/preview"
    r"|apps/annotations/(?P<e>[^/]*)|apps/annotation-reply/[^/]+/status/(?P<f>[^/]*)|end-users/(?P<g>[^/]*))$"
)


def html_404_for_malformed_ids(app: App) -> App:
    """An id that is not a UUID matches no route (Flask's uuid converter): an HTML 404."""

    def no_route(env: Any) -> Answer:
        m = UUID_ROUTES.match(env.get("PATH_INFO", ""))
        if m is None or all(UUID_SEGMENT.match(v) for v in m.groupdict().values() if v is not None):
            return None
        return 404, [("Content-Type", "text/html")], HTML_404

    return wrap(app, intercept=no_route)


def user_coerced(app: App) -> App:
    """A `user` of any JSON type is taken as its string form (pydantic's lax mode on the real server)."""

    def coerce(env: Any, body: Any, query: dict[str, str]) -> Any:
        if (
            isinstance(body, dict)
            and "user" in body
            and body["user"] is not None
            and not isinstance(body["user"], str)
        ):
            body["user"] = str(body["user"])
        return body

    return wrap(app, request=coerce)


PAGE_MAX = 2147483647


def page_unbounded(app: App) -> App:
    """`page` of the admin lists has no upper bound (`type=int`): a page past the end is empty."""

    def far(env: Any) -> Answer:
        page = _query(env).get("page", "")
        if not _authorized(env) or not page.isdigit() or int(page) <= PAGE_MAX:
            return None
        limit = int(_query(env).get("limit") or 20) if _query(env).get("limit", "").isdigit() else 20
        if "feedbacks" in env.get("PATH_INFO", ""):
            return 200, JSON, b'{"data": []}'
        body = {"data": [], "has_more": False, "limit": limit, "total": 0, "page": int(page)}
        return 200, JSON, json.dumps(body).encode()

    return wrap(app, path=r"/v1/(apps/annotations|app/feedbacks)$", method="GET", intercept=far)


def answer_at_once(app: App) -> App:
    """A workflow that produces its whole answer at once: the run's progress events stream as they
    happen, and the text arrives at its end in two pieces 1 ms apart (an echo Answer node: its
    literal, then the query; on Dify 1.12.1, 1.1 s after the request)."""

    def burst(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        held: list[dict[str, Any]] = []
        for frame in frames(chunks):
            payload = frame_json(frame)
            if isinstance(payload, dict) and payload.get("event") in ("message", "agent_message"):
                held.append(payload)
                continue
            if (
                held
                and isinstance(payload, dict)
                and payload.get("event") in ("message_end", "workflow_finished")
            ):
                text = "".join(str(p.get("answer", "")) for p in held)
                cut = max(1, len(text) // 3)
                for i, part in enumerate((text[:cut], text[cut:])):
                    if i:
                        time.sleep(0.001)
                    yield b"data: " + json.dumps({**held[0], "answer": part}).encode() + b"\n\n"
                held = []
            yield frame

    return wrap(app, path=r"/v1/chat-messages$", method="POST", stream=burst)


def files_ignored_without_upload(app: App) -> App:
    """An app without file upload: /parameters says so, and `files` of a message are never read."""

    def no_upload(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            body["file_upload"] = {"enabled": False, "image": {"enabled": False}}
        return code, body

    def ignore(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict):
            body.pop("files", None)
        return body

    params = wrap(app, path=r"/v1/parameters$", json_response=no_upload)
    return wrap(params, path=r"/v1/chat-messages$", method="POST", request=ignore)


def inputs_list_every_variable(app: App) -> App:
    """Conversations and history list every variable of the app's form, `null` where unset."""
    form_names: list[str] = []
    lock = threading.Lock()

    def learn(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            names = []
            for item in body.get("user_input_form") or []:
                for control in item.values() if isinstance(item, dict) else ():
                    if isinstance(control, dict) and control.get("variable"):
                        names.append(control["variable"])
            with lock:
                form_names[:] = names
        return code, body

    def fill(env: Any, code: int, body: Any) -> tuple[int, Any]:
        items = body.get("data") if code == 200 and isinstance(body, dict) else None
        for item in items if isinstance(items, list) else [body] if isinstance(body, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("inputs"), dict):
                for name in form_names:
                    item["inputs"].setdefault(name, None)
        return code, body

    params = wrap(app, path=r"/v1/parameters$", json_response=learn)
    return wrap(
        params, path=r"/v1/(messages|conversations)$|/v1/conversations/[^/]+/name$", json_response=fill
    )


def annotation_reply_bad_action_400(app: App) -> App:
    """An action other than enable/disable: the body is validated first, 400 `invalid_param`."""

    def refuse(env: Any) -> Answer:
        if not _authorized(env) or re.search(
            r"/annotation-reply/(enable|disable)(/|$)", env.get("PATH_INFO", "")
        ):
            return None
        return _error(400, "invalid_param", "3 validation errors for the annotation reply settings")

    return wrap(app, path=r"/v1/apps/annotation-reply/[^/]+$", method="POST", intercept=refuse)


# ---------------------------------------------------------------- known defects of 1.12.1


def delete_ignores_owner(app: App) -> App:
    """Delete by id alone: another user's or another app's conversation is deleted (204), and an
    unknown or already deleted id is 204 too (the owner is never looked up)."""
    owners: dict[str, tuple[str, str]] = {}  # conversation id -> (authorization, user)
    lock = threading.Lock()

    def remember(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict) and isinstance(body.get("conversation_id"), str):
            with lock:
                owners.setdefault(
                    body["conversation_id"], (env.get("HTTP_AUTHORIZATION", ""), env["gallery.user"])
                )
        return code, body

    def remember_stream(env: Any, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for frame in frames(chunks):
            payload = frame_json(frame)
            if isinstance(payload, dict) and isinstance(payload.get("conversation_id"), str):
                with lock:
                    owners.setdefault(
                        payload["conversation_id"], (env.get("HTTP_AUTHORIZATION", ""), env["gallery.user"])
                    )
            yield frame

    def note_user(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["gallery.user"] = body.get("user") if isinstance(body, dict) else None
        return body

    def as_owner(env: Any, start_response: Any) -> Any:
        cid = env["PATH_INFO"].rsplit("/", 1)[-1]
        with lock:
            owner = owners.get(cid)
        if not _authorized(env) or not UUID_SEGMENT.match(cid):
            return app(env, start_response)
        if owner is None:  # unknown or gone: answered as if deleted
            start_response("204 No Content", [])
            return [b""]
        env["HTTP_AUTHORIZATION"] = owner[0]
        raw = _raw_body(env)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        if isinstance(body, dict):
            body["user"] = owner[1]
        data = json.dumps(body).encode()
        env["wsgi.input"], env["CONTENT_LENGTH"] = io.BytesIO(data), str(len(data))

        seen: dict[str, str] = {}

        def sr(status: str, hdrs: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            if status.startswith("404"):  # deleted before: still 204
                status = "204 No Content"
                hdrs = [h for h in hdrs if h[0].lower() not in ("content-type", "content-length")]
            return start_response(status, hdrs, exc_info)

        result = app(env, sr)
        if not seen.get("status", "").startswith("404"):
            return result
        getattr(result, "close", lambda: None)()
        return [b""]

    sending = wrap(
        app,
        path=r"/v1/chat-messages$",
        method="POST",
        request=note_user,
        json_response=remember,
        stream=remember_stream,
    )

    def route(env: Any, start_response: Any) -> Any:
        if env.get("REQUEST_METHOD") == "DELETE" and re.match(
            r"^/v1/conversations/[^/]+$", env.get("PATH_INFO", "")
        ):
            return as_owner(env, start_response)
        return sending(env, start_response)

    return route


def _whole_list(cursor: str) -> Callable[[Any, Any, dict[str, str]], Any]:
    """A request hook: ask the server for the whole list (no cursor, the largest page); the answer
    hook then cuts the page the way the reference server's query does."""

    def ask(env: Any, body: Any, query: dict[str, str]) -> Any:
        env["ref.query"] = dict(query)
        if query.get(cursor):
            query.pop(cursor)
            query["limit"] = "100"
        return body

    return ask


def _limit(query: dict[str, str]) -> int:
    value = query.get("limit", "")
    return int(value) if value.isdigit() else 20


def first_id_skips_same_second(app: App) -> App:
    """History paging keeps `created_at < the cursor message's created_at` in whole seconds (Dify's
    `pagination_by_first_id`): messages that share a second with the cursor are never listed."""

    def page(env: Any, code: int, body: Any) -> tuple[int, Any]:
        query = env.get("ref.query", {})
        if code != 200 or not query.get("first_id") or not isinstance(body, dict):
            return code, body
        items = [m for m in body.get("data") or [] if isinstance(m, dict)]
        cursor = next((m for m in items if m.get("id") == query["first_id"]), None)
        if cursor is None:
            return 404, {"code": "not_found", "message": "First Message Not Exists.", "status": 404}
        older = [m for m in items if m["created_at"] < cursor["created_at"] and m is not cursor]
        limit = _limit(query)
        newest = list(reversed(older))[: limit + 1]
        body["has_more"] = len(newest) > limit
        body["data"] = list(reversed(newest[:limit]))
        body["limit"] = limit
        return code, body

    return wrap(app, path=r"/v1/messages$", method="GET", request=_whole_list("first_id"), json_response=page)


def variables_last_id_skips_same_time(app: App) -> App:
    """Variable paging keeps `created_at > the cursor variable's created_at`: variables made together
    (a conversation's, all at its start) are never listed after the first page."""

    def page(env: Any, code: int, body: Any) -> tuple[int, Any]:
        query = env.get("ref.query", {})
        if code != 200 or not query.get("last_id") or not isinstance(body, dict):
            return code, body
        items = [v for v in body.get("data") or [] if isinstance(v, dict)]
        cursor = next((v for v in items if v.get("id") == query["last_id"]), None)
        if cursor is None:
            return 404, {"code": "not_found", "message": "Conversation Variable Not Exists.", "status": 404}
        later = [v for v in items if (v.get("created_at") or 0) > (cursor.get("created_at") or 0)]
        limit = _limit(query)
        body["has_more"] = len(later) > limit
        body["data"] = later[:limit]
        body["limit"] = limit
        return code, body

    return wrap(
        app,
        path=r"/v1/conversations/[^/]+/variables$",
        method="GET",
        request=_whole_list("last_id"),
        json_response=page,
    )


def _internal_error() -> Answer:
    return 500, JSON, b'{"message": "Internal Server Error", "code": "unknown", "status": 500}'


def variable_name_filter_500(app: App) -> App:
    """The `variable_name` filter's query fails on PostgreSQL: 500."""

    def crash(env: Any) -> Answer:
        return _internal_error() if _authorized(env) and _query(env).get("variable_name") else None

    return wrap(app, path=r"/v1/conversations/[^/]+/variables$", method="GET", intercept=crash)


def long_user_500(app: App) -> App:
    """A `user` over 255 characters overflows the end user's column: 500."""

    def crash(env: Any) -> Answer:
        user = _query(env).get("user")
        if user is None and env.get("CONTENT_TYPE", "").startswith("application/json"):
            body = _json_body(env)
            user = body.get("user") if isinstance(body, dict) else None
        too_long = isinstance(user, str) and len(user) > 255
        return _internal_error() if too_long and _authorized(env) else None

    return wrap(app, intercept=crash)


def delete_array_body_500(app: App) -> App:
    """A JSON array as the body of a delete: the payload model is built from it and fails, 500."""

    def crash(env: Any) -> Answer:
        return _internal_error() if _authorized(env) and isinstance(_json_body(env), list) else None

    return wrap(app, path=r"/v1/conversations/[^/]+$", method="DELETE", intercept=crash)


def speech_unknown_message_null(app: App) -> App:
    """Text to speech of an unknown `message_id`: the message is not found and 200 `null` comes back."""

    def null(env: Any, code: int, body: Any) -> tuple[int, Any]:
        return (200, None) if code == 404 and _authorized(env) else (code, body)

    return wrap(app, path=r"/v1/text-to-audio$", method="POST", json_response=null)


GOOD: list[Variant] = [
    Variant(
        "ref_end_users_not_offered",
        "GET /end-users/{id} has no route (HTML 404)",
        "appinfo",
        end_users_not_offered,
    ),
    Variant(
        "ref_audio_switched_off",
        "speech to text and text to speech off: 400 invalid_param",
        "audio",
        audio_switched_off,
    ),
    Variant(
        "ref_audio_missing_part_key_error",
        "no `file` part in speech to text: 400 bad_request_key_error",
        "audio",
        audio_missing_part_key_error,
    ),
    Variant(
        "ref_naive_feedback_times", "app feedbacks with naive ISO times", "feedback", naive_feedback_times
    ),
    Variant(
        "ref_remote_urls_unreachable",
        "an offline server: remote URLs cannot be fetched",
        "files",
        remote_urls_unreachable,
    ),
    Variant(
        "ref_html_404_for_malformed_ids",
        "a non-UUID id matches no route",
        "fuzz",
        html_404_for_malformed_ids,
        extra=fuzzing("renameConversation,deleteConversation,stopChatMessage,createMessageFeedback"),
    ),
    Variant(
        "ref_user_coerced",
        "`user` of any JSON type taken as a string",
        "fuzz",
        user_coerced,
        extra=fuzzing("sendChatMessage,renameConversation,createMessageFeedback,deleteConversation"),
    ),
    Variant(
        "ref_page_unbounded",
        "`page` of admin lists without a maximum",
        "fuzz",
        page_unbounded,
        extra=fuzzing("listAnnotations,listAppFeedbacks"),
    ),
    Variant(
        "ref_answer_at_once", "a whole answer produced at once", "streaming", on_chatflow(answer_at_once)
    ),
    Variant(
        "ref_files_ignored_without_upload",
        "an app without file upload ignores `files`",
        "files,fuzz",
        files_ignored_without_upload,
        extra=fuzzing("sendChatMessage"),
    ),
    Variant(
        "ref_inputs_list_every_variable",
        "inputs list every form variable, null where unset",
        "conversations,history,lifecycle",
        inputs_list_every_variable,
    ),
    Variant(
        "ref_annotation_reply_bad_action",
        "an unknown reply action: 400",
        "annotations",
        annotation_reply_bad_action_400,
    ),
]

BROKEN: list[Variant] = [
    Variant(
        "ref_no_allow_on_405",
        "Dify 1.12.1: 405 without Allow (a SHOULD: warned, never failed)",
        "fuzz",
        no_allow_on_405,
        ("fuzz.allow_header",),
        fuzzing("listConversations,renameConversation"),
    ),
    Variant(
        "ref_delete_ignores_owner",
        "Dify 1.12.1: delete ignores the owner (user and app); unknown ids are 204",
        "isolation,lifecycle",
        lambda app: delete_ignores_owner(two_apps(app)),
        (
            "isolation.delete",
            "lifecycle.deleted_delete_404",
            "lifecycle.delete_unknown",
            "isolation.other_app",
        ),
        OTHER_APP_ARGS,
    ),
    Variant(
        "ref_first_id_skips_same_second",
        "Dify 1.12.1: first_id paging skips messages of the cursor's second",
        "history",
        first_id_skips_same_second,
        ("history.complete",),
    ),
    Variant(
        "ref_variables_last_id_skips_same_time",
        "Dify 1.12.1: last_id paging of variables skips those of the cursor's time",
        "variables",
        on_chatflow(variables_last_id_skips_same_time),
        ("variables.list",),
    ),
    Variant(
        "ref_variable_name_filter_500",
        "Dify 1.12.1: the variable_name filter is a 500",
        "variables",
        on_chatflow(variable_name_filter_500),
        ("variables.name_filter",),
    ),
    Variant(
        "ref_long_user_500",
        "Dify 1.12.1: a user over 255 characters is a 500",
        "fuzz",
        long_user_500,
        ("fuzz.operation",),
        fuzzing("listConversations,renameConversation"),
    ),
    Variant(
        "ref_delete_array_body_500",
        "Dify 1.12.1: a JSON array body on delete is a 500",
        "fuzz",
        delete_array_body_500,
        ("fuzz.operation",),
        fuzzing("deleteConversation"),
    ),
    Variant(
        "ref_speech_unknown_message_null",
        "Dify 1.12.1: text to speech of an unknown message is 200 null",
        "fuzz",
        speech_unknown_message_null,
        ("fuzz.operation",),
        fuzzing("textToAudio"),
    ),
]

# The behaviours of the captured app (its variants above may build their own mock: these are the bare
# wrappers). It enables file upload: an app without it is a variant of its own.
LEGAL = [
    end_users_not_offered,
    audio_switched_off,
    audio_missing_part_key_error,
    naive_feedback_times,
    remote_urls_unreachable,
    no_allow_on_405,
    html_404_for_malformed_ids,
    user_coerced,
    page_unbounded,
    answer_at_once,
    inputs_list_every_variable,
    annotation_reply_bad_action_400,
]
DEFECTS = [
    delete_ignores_owner,
    first_id_skips_same_second,
    variables_last_id_skips_same_time,
    variable_name_filter_500,
    long_user_500,
    delete_array_body_500,
    speech_unknown_message_null,
]


def dify_1_12_1(app: App) -> App:  # noqa: ARG001 - built on the chatflow app, as the captures were
    """Every behaviour above at once, on the chatflow app with a second app beside it."""
    base = mock_app(api_keys=[KEY, OTHER_KEY], app_bindings={KEY: "chatflow"})
    return chain(base, *LEGAL, *DEFECTS)


__all__ = ["BROKEN", "GOOD", "OTHER_APP_ARGS", "OTHER_KEY", "dify_1_12_1"]
