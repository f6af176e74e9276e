"""Files: POST /files/upload, GET /files/{id}/preview, `files` in chat messages, message_files."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Any

from tests.conformance.gallery.helpers import App, Variant
from tests.conformance.rewrite import wrap

PREVIEW = r"/v1/files/[^/]+/preview$"
UPLOAD = r"/v1/files/upload$"


def _binary(app: App, path: str, body: Callable[[bytes], bytes] | None = None, headers: Any = None) -> App:
    """Rewrite the (non-JSON) body and/or headers of successful answers on `path`."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not _matches(path, environ):
            return app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(
            status: str, hdrs: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(hdrs)
            return lambda data: None

        result = app(environ, capture)
        data = b"".join(result)
        getattr(result, "close", lambda: None)()
        hdrs = captured["headers"]
        if captured["status"].startswith("200"):
            if body is not None:
                data = body(data)
            if headers is not None:
                hdrs = headers(hdrs)
        hdrs = [h for h in hdrs if h[0].lower() != "content-length"] + [("Content-Length", str(len(data)))]
        start_response(captured["status"], hdrs)
        return [data]

    return middleware


def _matches(path: str, environ: dict[str, Any]) -> bool:
    return bool(re.search(path, environ.get("PATH_INFO", "")))


# ------------------------------------------------------------------ broken variants


def upload_without_id(app: App) -> App:
    def drop(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 201 and isinstance(body, dict):
            body.pop("id", None)
        return code, body

    return wrap(app, path=UPLOAD, json_response=drop)


def upload_errors_generic(app: App) -> App:
    """Every upload refusal (no file, too large, wrong type) is a generic 400 invalid_param."""

    def recode(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code >= 400 and isinstance(body, dict) and code != 401:
            return 400, {**body, "code": "invalid_param", "status": 400}
        return code, body

    return wrap(app, path=UPLOAD, json_response=recode)


def unknown_type_refused_generically(app: App) -> App:
    """A file of a type in none of the lists is refused with a generic 400 invalid_param: neither the
    415 unsupported_file_type an operator's blacklist gives nor the 201 of Dify's default."""

    def refuse(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        if not env.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
            return None  # authentication first, as the mock (and Dify) do
        raw = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
        env["wsgi.input"] = io.BytesIO(raw)
        if re.search(rb'filename="[^"]*\.(exe|bin|dll|so)"', raw):
            body = b'{"code": "invalid_param", "message": "file: type not allowed", "status": 400}'
            return 400, [("Content-Type", "application/json")], body
        return None

    return wrap(app, path=UPLOAD, method="POST", intercept=refuse)


def preview_bytes_altered(app: App) -> App:
    """The preview re-encodes the file (here: drops its last bytes), so the round trip breaks."""
    return _binary(app, PREVIEW, body=lambda data: data[:-4])


def preview_unknown_as_500(app: App) -> App:
    def crash(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 404:
            return 500, {
                "code": "internal_server_error",
                "message": "NoneType has no attribute 'key'",
                "status": 500,
            }
        return code, body

    return wrap(app, path=PREVIEW, json_response=crash)


def history_without_files(app: App) -> App:
    def drop(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 200 and isinstance(body, dict):
            for item in body.get("data") or []:
                item.pop("message_files", None)
        return code, body

    return wrap(app, path=r"/v1/messages$", method="GET", json_response=drop)


def chat_files_not_checked(app: App) -> App:
    """Files sent with a chat message are dropped unread: unknown, foreign and mistyped ids all pass."""

    def strip(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict):
            body.pop("files", None)
        return body

    return wrap(app, path=r"/v1/chat-messages$", method="POST", request=strip)


def upload_ids_not_owned(app: App) -> App:
    """A file uploaded by one user can be attached by any user (the owner check is missing)."""
    owners: dict[str, str] = {}

    def note(env: Any, code: int, body: Any) -> tuple[int, Any]:
        if code == 201 and isinstance(body, dict) and body.get("id"):
            owners[body["id"]] = env.get("gallery.user", "")
        return code, body

    def as_owner(env: Any, body: Any, query: dict[str, str]) -> Any:
        if isinstance(body, dict):
            ids = [f.get("upload_file_id") for f in body.get("files") or [] if isinstance(f, dict)]
            owner = next((owners[i] for i in ids if i in owners and owners[i]), None)
            if owner and owner != body.get("user"):
                body["user"] = owner
        return body

    def read_user(app_: App) -> App:
        def mw(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if _matches(UPLOAD, environ):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                raw = environ["wsgi.input"].read(length) if length else b""
                found = re.search(rb'name="user"\r\n\r\n([^\r]*)\r\n', raw)
                environ["gallery.user"] = found.group(1).decode() if found else ""
                environ["wsgi.input"] = io.BytesIO(raw)
            return app_(environ, start_response)

        return mw

    uploads = read_user(wrap(app, path=UPLOAD, json_response=note))
    return wrap(uploads, path=r"/v1/chat-messages$", method="POST", request=as_owner)


# ------------------------------------------------------------------ legal variations


def refuses_unknown_types(app: App) -> App:
    """The 2023-24 image-only servers: an extension in none of the contract's lists is refused at
    upload with 415 `unsupported_file_type` (today's Dify stores it; both are legal, F2, K4)."""

    def refuse(env: Any) -> tuple[int, list[tuple[str, str]], bytes] | None:
        length = int(env.get("CONTENT_LENGTH") or 0)
        raw = env["wsgi.input"].read(length)
        env["wsgi.input"] = io.BytesIO(raw)
        if re.search(rb'filename="[^"]*\.(exe|bin|dll|so)"', raw):
            body = b'{"code": "unsupported_file_type", "message": "File type not allowed.", "status": 415}'
            return 415, [("Content-Type", "application/json")], body
        return None

    return wrap(app, path=UPLOAD, method="POST", intercept=refuse)


def attachment_as_octet_stream(app: App) -> App:
    """A download answered as application/octet-stream, with a plain filename= parameter."""

    def download(env: Any) -> bool:
        return "as_attachment=true" in env.get("QUERY_STRING", "")

    def rewrite(hdrs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        out = []
        for name, value in hdrs:
            if name.lower() == "content-type":
                value = "application/octet-stream"
            elif name.lower() == "content-disposition":
                value = value.replace("filename*=UTF-8''", "filename=")
            out.append((name, value))
        return out

    inner = _binary(app, PREVIEW, headers=rewrite)

    def choose(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return (inner if download(environ) else app)(environ, start_response)

    return choose


BROKEN: list[Variant] = [
    Variant(
        "upload_without_id", "the upload's record has no id", "files", upload_without_id, ("files.upload",)
    ),
    Variant(
        "upload_errors_generic",
        "every upload refusal is a generic 400 invalid_param (no 413, no_file_uploaded)",
        "files",
        upload_errors_generic,
        # the mock stores any extension, as Dify 1.12.1 does: no 415 left to turn into a 400
        ("files.missing_file", "files.too_large"),
    ),
    Variant(
        "unknown_type_refused_generically",
        "a file of an unknown type is a generic 400 invalid_param (neither 415 nor accepted)",
        "files",
        unknown_type_refused_generically,
        ("files.unsupported_type",),
    ),
    Variant(
        "preview_bytes_altered",
        "the preview (inline or as a download) does not give back the uploaded bytes",
        "files",
        preview_bytes_altered,
        ("files.round_trip", "files.as_attachment"),
    ),
    Variant(
        "preview_unknown_as_500",
        "an unknown file id crashes the preview",
        "files",
        preview_unknown_as_500,
        ("files.preview_unknown",),
    ),
    Variant(
        "history_without_files",
        "history items have no message_files",
        "files",
        history_without_files,
        ("files.in_history", "files.remote_url"),
    ),
    Variant(
        "chat_files_not_checked",
        "files of chat messages are never validated (nor kept)",
        "files",
        chat_files_not_checked,
        ("files.unknown_upload", "files.type_mismatch"),
    ),
    Variant(
        "upload_ids_not_owned",
        "any user can attach another user's upload (SHOULD)",
        "files",
        upload_ids_not_owned,
        ("files.foreign_upload",),
    ),
]

GOOD: list[Variant] = [
    Variant(
        "refuses_unknown_types",
        "an unknown file type is refused at upload (415)",
        "files",
        refuses_unknown_types,
    ),
    Variant(
        "attachment_as_octet_stream",
        "downloads are application/octet-stream with filename=",
        "files",
        attachment_as_octet_stream,
    ),
]
