"""Files: upload (limits from the contract), preview, the `files` of chat messages and their history.

Real Dify stores a file of any extension (R-cap chatflow/055-file_upload_bad_type.json: `.exe` is
201) and judges its size limit by the type its extension names, the document limit for any other;
the contract's `x-file-types` (on the `file` part of POST /files/upload) holds both, so the mock
reads them from there. Its type is judged when it is attached to a message: Dify detects it from the
extension, else from the MIME type (`factories/file_factory.py`, `_standardize_file_type`), and
refuses a message whose file's `type` differs. An upload is kept, bytes and all, in the store, owned
by (api key, user).
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import secrets
import sqlite3
import time
import uuid
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from flask import Blueprint, Response, current_app, request

from mock_server import files_store
from mock_server.errors import ApiError, error_response
from mock_server.handlers.base import Call, bad_param, json_response
from mock_server.ids import end_user_id, tenant_id
from mock_server.limits import ascii_int
from mock_server.state import MockState, db, get_state

UPLOAD_OP = "uploadFile"
DEFAULT_USER = "DEFAULT-USER"  # the end user of requests without `user`, as on real servers
GENERIC_TYPES = {"", "application/octet-stream"}
FILE_NOT_FOUND = ApiError(404, "The requested file was not found.", "file_not_found")
SIGNED_URL_TTL_S = 300
SIGNED_URL_SKEW_S = 60  # a link signed by a clock this far ahead (another host) is still fresh

# ------------------------------------------------------------------ the contract's limits


def file_types(state: MockState) -> dict[str, dict[str, Any]]:
    """type -> {"x-max-bytes", "x-file-extensions"}, from the contract's upload operation."""
    op = state.operations[UPLOAD_OP]
    media = op.raw["requestBody"]["content"]["multipart/form-data"]
    part = state.contract.resolve(state.contract.resolve(media["schema"])["properties"]["file"])
    return part["x-file-types"]


def serves_files(state: MockState) -> bool:
    """Whether the served API has file uploads (the 2023 API had none)."""
    return UPLOAD_OP in state.operations


def kind_of(state: MockState, extension: str) -> str | None:
    """The file type (image, document, audio, video) of an extension, or None when none lists it."""
    for kind, limits in file_types(state).items():
        if extension.lower() in {str(e).lower() for e in limits["x-file-extensions"]}:
            return kind
    return None


def _extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


# Dify's guess from a MIME type when the extension names no type (file_factory's
# `_get_file_type_by_mimetype`): the first of these words the type contains, else `custom`.
MIME_KINDS = (
    ("image", "image"),
    ("video", "video"),
    ("audio", "audio"),
    ("text", "document"),
    ("pdf", "document"),
)


def detected_kind(state: MockState, extension: str, mime_type: str) -> str:
    """The type Dify detects for a stored file: its extension's, else its MIME type's, else custom."""
    kind = kind_of(state, extension)
    if kind is None:
        kind = next((k for word, k in MIME_KINDS if word in mime_type), "custom")
    return kind


# ------------------------------------------------------------------ signed URLs


def _signature(state: MockState, file_id: str, timestamp: str, nonce: str) -> str:
    """HMAC-SHA256 with the app's link key: random per start (config.link_key), never shown."""
    mac = hmac.new(state.link_key, f"file-preview|{file_id}|{timestamp}|{nonce}".encode(), hashlib.sha256)
    return mac.hexdigest()


def signed_url(state: MockState, file_id: str) -> str:
    """A URL that serves the file without an API key for a while (Dify's signed file-preview URL)."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(8)
    sign = _signature(state, file_id, timestamp, nonce)
    return f"{request.host_url}files/{file_id}/file-preview?timestamp={timestamp}&nonce={nonce}&sign={sign}"


signed_files_blueprint = Blueprint("signed_files", __name__)
BAD_LINK = ApiError(403, "Invalid or expired file signature.", "forbidden")


@signed_files_blueprint.get("/files/<file_id>/file-preview")
def signed_preview(file_id: str) -> Response:
    """The target of `source_url` and of history's `message_files[].url`: no key, a valid signature
    made at most SIGNED_URL_TTL_S ago (and not more than SIGNED_URL_SKEW_S ahead)."""
    state = get_state(current_app)
    timestamp, nonce, sign = (request.args.get(k, "") for k in ("timestamp", "nonce", "sign"))
    signed_at = ascii_int(timestamp) if len(timestamp) <= 12 else None
    if signed_at is None or not nonce or not sign:
        wanted = "a file link needs timestamp (Unix seconds, ASCII digits), nonce and sign"
        return error_response("chat-app", bad_param("timestamp", wanted))
    age = time.time() - signed_at
    if not -SIGNED_URL_SKEW_S <= age <= SIGNED_URL_TTL_S:
        return error_response("chat-app", BAD_LINK)
    expected = _signature(state, file_id, timestamp, nonce).encode()
    if not hmac.compare_digest(sign.encode("utf-8", "replace"), expected):
        return error_response("chat-app", BAD_LINK)
    row = files_store.get_upload(db(state), file_id)
    if row is None:
        return error_response("chat-app", FILE_NOT_FOUND)
    return _file_response(row, files_store.upload_bytes(db(state), file_id), attachment=False)


# ------------------------------------------------------------------ upload and preview


def upload_record(state: MockState, row: Any) -> dict[str, Any]:
    """The answer of POST /files/upload for a stored upload (Dify's field set)."""
    return {
        "id": row["id"],
        "name": row["name"],
        "size": row["size"],
        "extension": row["extension"],
        "mime_type": row["mime_type"],
        "created_by": end_user_id(row["api_key"], row["user"]),
        "created_at": row["created_at"],
        "preview_url": None,
        "source_url": signed_url(state, row["id"]),
        "original_url": None,
        "user_id": None,
        "tenant_id": tenant_id(row["api_key"]),
        "conversation_id": None,
        "file_key": None,
    }


MAX_FILENAME_CHARS = 255  # what file systems take (real servers cut a name over 200 characters)


def filename_problem(name: str) -> str | None:
    """Why a file name cannot be stored (a control character such as NUL, or too long), or None."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "Filename contains invalid characters (control characters such as NUL)"
    if len(name) > MAX_FILENAME_CHARS:
        return f"Filename is longer than {MAX_FILENAME_CHARS} characters ({len(name)})"
    return None


def upload_file(call: Call) -> Response:
    parts = [f for name in request.files for f in request.files.getlist(name)]
    storage = call.v.files.get("file")
    if storage is None:
        raise ApiError(400, "Please upload your file.", "no_file_uploaded", param="file")
    if len(parts) > 1:
        raise ApiError(400, "Only one file is allowed.", "too_many_files")
    name = storage.filename or ""
    if not name:
        raise ApiError(400, "The specified filename does not exist.", "filename_not_exists_error")
    if "/" in name or "\\" in name:
        raise bad_param("file", "Filename contains invalid characters")
    problem = filename_problem(name)
    if problem:
        raise bad_param("file", problem)
    extension = _extension(name)
    limits = kind_of(call.state, extension) or "document"  # Dify: any other file has the document limit
    limit = int(file_types(call.state)[limits]["x-max-bytes"])
    data = storage.stream.read(limit + 1)
    if len(data) > limit:
        raise ApiError(
            413, f"File size exceeded. The limit of {limits} files is {limit / 2**20:g} MB.", "file_too_large"
        )
    mime = (storage.mimetype or "").lower()
    if mime in GENERIC_TYPES:
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    kind = detected_kind(call.state, extension, mime)
    user = call.body.get("user") or DEFAULT_USER
    upload: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "name": name,
        "extension": extension,
        "mime_type": mime,
        "kind": kind,
        "created_at": int(time.time()),
    }
    files_store.insert_upload(call.db, call.key, user, upload, data)
    return json_response(upload_record(call.state, files_store.get_upload(call.db, upload["id"])), status=201)


def preview_file(call: Call) -> Response:
    file_id = call.v.params["file_id"]
    row = files_store.get_upload(call.db, file_id)
    holders = files_store.apps_holding(call.db, file_id) if row is not None else set()
    if not holders:  # unknown, or never attached: real servers find files through their messages
        raise FILE_NOT_FOUND
    if call.key not in holders:
        raise ApiError(403, "Access to the requested file is denied.", "file_access_denied")
    return _file_response(
        row, files_store.upload_bytes(call.db, file_id), bool(call.v.params.get("as_attachment"))
    )


# Nothing uploaded is ever active content on the mock's origin, where a page could use the admin API
# as a same-origin page: every file answer is sniff-proof and sandboxed (a document shown from it has
# an opaque origin and runs no script), and only types a browser shows without running anything are
# inline; every other type (HTML, SVG, XML, JavaScript, PDF, ...) is a download.
FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
}
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif", "text/plain"}
)
INLINE_KINDS = ("audio/", "video/")


def shown_inline(mime_type: str) -> bool:
    """Whether a browser shows this type without running anything in it (raster images, audio,
    video, plain text): such files are served inline, every other type as a download."""
    mime = mime_type.split(";", 1)[0].strip().lower()
    return mime in INLINE_TYPES or mime.startswith(INLINE_KINDS)


def _file_response(row: Any, data: bytes, attachment: bool) -> Response:
    resp = Response(data, mimetype=row["mime_type"])
    resp.headers["Cache-Control"] = "public, max-age=3600"
    resp.headers.update(FILE_HEADERS)
    if attachment or not shown_inline(row["mime_type"]):
        resp.headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{quote(row['name'])}"
    else:
        resp.headers["Content-Disposition"] = "inline"
    return resp


# ------------------------------------------------------------------ files of chat messages


def upload_settings(parameters: dict[str, Any]) -> dict[str, Any] | None:
    """The app's file settings from /parameters `file_upload` (today's form or the image-only one);
    None when the app takes no files (real servers then ignore `files`)."""
    config = parameters.get("file_upload")
    if not isinstance(config, dict):
        return None
    given = config.get("image")
    image = given if isinstance(given, dict) else {}
    if config.get("enabled"):
        return {
            "types": set(
                config.get("allowed_file_types") or ["image", "document", "audio", "video", "custom"]
            ),
            "methods": set(config.get("allowed_file_upload_methods") or ["remote_url", "local_file"]),
            "limit": int(config.get("number_limits") or image.get("number_limits") or 3),
            "extensions": {str(e).lower().lstrip(".") for e in config.get("allowed_file_extensions") or []},
        }
    if image.get("enabled"):
        return {
            "types": {"image"},
            "methods": set(image.get("transfer_methods") or ["remote_url", "local_file"]),
            "limit": int(image.get("number_limits") or 3),
            "extensions": set(),
        }
    return None


def chat_files(call: Call, user: str, files: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """Validate the `files` of a chat request; the message-file records to store with the message."""
    if not files:  # most messages carry none: no need to work out the app's file settings
        return []
    settings = upload_settings(call.app.parameters)
    if settings is None or not serves_files(call.state):
        return []
    if len(files) > settings["limit"]:
        raise bad_param("files", f"Number of files exceeds the maximum limit {settings['limit']}")
    records = []
    for index, item in enumerate(files):
        field = f"files.{index}"
        if item["transfer_method"] not in settings["methods"]:
            raise bad_param(field, f"transfer method {item['transfer_method']} is not allowed by this app")
        if item["type"] not in settings["types"] and item["type"] != "custom":
            raise bad_param(field, f"file type {item['type']} is not allowed by this app")
        record = (
            _local_file(call, user, item, field) if item["transfer_method"] == "local_file" else _remote(item)
        )
        if item["type"] == "custom" and _extension(record["filename"]) not in settings["extensions"]:
            raise bad_param(field, f"file extension of {record['filename']} is not allowed by this app")
        records.append({"id": str(uuid.uuid4()), "belongs_to": "user", **record})
    return records


def _local_file(call: Call, user: str, item: dict[str, Any], field: str) -> dict[str, Any]:
    row = files_store.get_upload(call.db, item["upload_file_id"])
    if row is None or row["api_key"] != call.key or row["user"] != user:
        raise bad_param(f"{field}.upload_file_id", "Invalid upload file")
    if item["type"] != "custom" and item["type"] != row["kind"]:
        raise bad_param(
            f"{field}.type", "Detected file type does not match the specified type. Please verify the file."
        )
    return {
        "type": item["type"],
        "transfer_method": "local_file",
        "upload_file_id": row["id"],
        "filename": row["name"],
        "mime_type": row["mime_type"],
        "size": row["size"],
    }


def _remote(item: dict[str, Any]) -> dict[str, Any]:
    """A remote file as the mock sees it: never fetched, so its type comes from its URL and its size is
    unknown (-1, as real servers report when the remote server sends no length)."""
    url = item["url"]
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or "file"
    return {
        "type": item["type"],
        "transfer_method": "remote_url",
        "url": url,
        "filename": name,
        "mime_type": mimetypes.guess_type(name)[0],
        "size": -1,
    }


def with_message_files(call: Call, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """History items with their `message_files` (uploads as signed URLs, remote files as sent)."""
    if not serves_files(call.state):  # an API without uploads (the 2023 era) has no message_files
        return messages
    attached = files_store.files_of_messages(call.db, [m["id"] for m in messages])
    for message in messages:
        own = [_message_file(call.state, row) for row in attached.get(message["id"], [])]
        message["message_files"] = list(message.get("message_files") or []) + own
    return messages


def assistant_file_url(call: Call, made: Any) -> str:
    """The signed URL of a file an answer produced (stored as an upload of the app's user)."""
    return signed_url(call.state, _assistant_upload_id(made.id))


def _assistant_upload_id(file_id: str) -> str:
    return str(uuid.uuid5(uuid.UUID(file_id), "upload"))


def assistant_files(
    call: Call, user: str, made: list[Any], created_at: int
) -> list[tuple[dict[str, Any], bytes]]:
    """The files an answer produced, as (upload, bytes) to keep (see store_assistant_files); none
    when the API serves no uploads."""
    if not made or not serves_files(call.state):
        return []
    return [
        (
            {
                "id": _assistant_upload_id(f.id),
                "file_id": f.id,
                "name": f.filename,
                "extension": _extension(f.filename),
                "mime_type": f.mime_type,
                "kind": f.type,
                "created_at": created_at,
            },
            f.data,
        )
        for f in made
    ]


def store_assistant_files(
    conn: sqlite3.Connection, key: str, user: str, message_id: str, made: list[tuple[dict[str, Any], bytes]]
) -> None:
    """Keep the files an answer produced: their bytes as uploads, their records as the message's
    files (`belongs_to: assistant`, `transfer_method: tool_file`, as Dify's tool files). It runs in
    a group commit (store.GroupCommit.write): it uses the connection given, not the request's."""
    records = []
    for upload, data in made:
        files_store.insert_upload(conn, key, user, upload, data)
        records.append(
            {
                "id": upload["file_id"],
                "type": upload["kind"],
                "transfer_method": "tool_file",
                "url": None,
                "upload_file_id": upload["id"],
                "filename": upload["name"],
                "mime_type": upload["mime_type"],
                "size": len(data),
                "belongs_to": "assistant",
            }
        )
    files_store.insert_message_files(conn, key, message_id, records)


def message_end_files(
    call: Call, listed: str | None, attached: list[dict[str, Any]], made: list[Any]
) -> list[dict[str, Any]] | None:
    """`message_end.files` for an app whose mode lists `listed` files (the contract's
    `x-listed-files`): `message`, every file of the message (the user's attachments, then the files
    the answer produced), null when there are none, as Dify's easy-UI task pipeline
    (`_message_end_to_stream_response`, each file as `message_file_utils.prepare_file_dict` makes
    it); `answer`, the files the answer produced, `[]` when none. Built while the request is
    there: the signed URLs need its host."""
    if listed is None or not serves_files(call.state):
        return []
    produced = [
        _end_file(
            call.state,
            {"id": f.id, "type": f.type, "transfer_method": "tool_file", "filename": f.filename},
            f.url,
        )
        for f in made
    ]
    if listed != "message":
        return produced
    listed_files = [_end_file(call.state, record, None) for record in attached] + produced
    return listed_files or None


def _end_file(state: MockState, record: dict[str, Any], url: str | None) -> dict[str, Any]:
    """One file of `message_end.files`: uploads with their name, type and size; remote and tool
    files with the name their URL (or the mock's file) gives and no size or type known (0,
    `application/octet-stream`, as Dify reports them); `upload_file_id` is the message file's own
    id when no upload backs it."""
    method = record["transfer_method"]
    local = method == "local_file"
    if local:
        url = signed_url(state, record["upload_file_id"])
    elif method == "remote_url":
        url = record["url"]
    name = str(record.get("filename") or "file")
    return {
        "related_id": record["id"],
        "extension": f".{_extension(name)}" if "." in name else "",
        "filename": name,
        "size": int(record.get("size") or 0) if local else 0,
        "mime_type": (record.get("mime_type") or "application/octet-stream")
        if local
        else "application/octet-stream",
        "transfer_method": method,
        "type": record["type"],
        "url": url or "",
        "upload_file_id": record["upload_file_id"] if local else record["id"],
        "remote_url": record["url"] if method == "remote_url" else "",
    }


def _message_file(state: MockState, row: Any) -> dict[str, Any]:
    local = row["transfer_method"] in ("local_file", "tool_file") and bool(row["upload_file_id"])
    return {
        "id": row["id"],
        "filename": row["filename"],
        "type": row["type"],
        "url": signed_url(state, row["upload_file_id"]) if local else row["url"],
        "mime_type": row["mime_type"],
        "size": row["size"],
        "transfer_method": row["transfer_method"],
        "belongs_to": row["belongs_to"],
        "upload_file_id": row["upload_file_id"],
    }


HANDLERS = {
    "uploadFile": upload_file,
    "previewFile": preview_file,
}
