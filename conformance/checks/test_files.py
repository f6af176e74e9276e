"""files: upload (201, limits), attaching uploads and remote URLs to a chat message, preview, history.

The limits are the contract's (`x-file-types` on the upload's `file` part). Real servers find a
file for preview through the message it is attached to, so the round trip is upload -> chat with
the file -> preview; checks that send files in a chat are skipped when the app's `/parameters`
does not enable `file_upload` (real servers then ignore `files`). Only files.remote_url sends a
remote URL: a server that cannot fetch it (offline, firewalled) blocks no other check.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from conformance import contract
from conformance.chatapp import ChatApp, accepts_files
from conformance.checking import (
    SHOULD,
    check,
    expect,
    expect_error,
    expect_json_body,
    expect_status,
    fail,
    needs,
)
from conformance.contract import operation, resolve
from conformance.http import Client, Exchange
from conformance.run import Run
from conformance.samples import tiny_png


def _op(operation_id: str) -> Any:
    """The contract operation, or a skip when the judged era's API does not have it (2023: no files)."""
    try:
        op = operation(operation_id)
    except KeyError:
        op = None
    if op is None or contract.era() not in op.spec.get("x-eras", [contract.era()]):
        pytest.skip(f"{operation_id} is not part of the judged era's API ({contract.era()})")
    return op


SEND = operation("sendChatMessage")
HISTORY = operation("listMessages")
REMOTE_URL = "https://example.com/images/conformance-poster.png"


def file_types() -> dict[str, dict[str, Any]]:
    """type -> {x-max-bytes, x-file-extensions}: the contract's upload limits."""
    body = resolve(_op("uploadFile").spec["requestBody"])["content"]["multipart/form-data"]
    return resolve(resolve(body["schema"])["properties"]["file"])["x-file-types"]


def known_extensions() -> set[str]:
    return {str(e).lower() for limits in file_types().values() for e in limits["x-file-extensions"]}


def upload(client: Client, user: str | None, name: str, payload: bytes, ctype: str) -> Exchange:
    _op("uploadFile")
    return client.call(
        "POST",
        "/files/upload",
        files={"file": (name, payload, ctype)},
        data={"user": user} if user else None,
        evidence_body={"file": f"{name} ({len(payload)} bytes, {ctype})", "user": user},
    )


def preview(client: Client, file_id: str, user: str, **params: Any) -> Exchange:
    _op("previewFile")
    return client.call("GET", f"/files/{file_id}/preview", params={"user": user, **params})


def uploaded(client: Client, user: str, name: str, payload: bytes, ctype: str) -> dict[str, Any]:
    ex = upload(client, user, name, payload, ctype)
    expect_status(ex, 201, expected="uploadFile 201 with the stored file")
    return expect_json_body(ex, _op("uploadFile"))


def _history_item(
    app: ChatApp, user: str, conversation_id: str, message_id: str
) -> tuple[dict[str, Any], Exchange]:
    ex = app.messages(user, conversation_id, limit=100)
    expect_status(ex, 200)
    body = expect_json_body(ex, HISTORY)
    item = next((m for m in body["data"] if m.get("id") == message_id), None)
    if item is None:
        fail(f"message {message_id} is missing from its conversation's history", ex)
    return item, ex


@pytest.fixture(scope="module")
def parameters(client: Client, run: Run) -> dict[str, Any]:
    ex = client.call("GET", "/parameters", params={"user": run.user("files")})
    body = ex.json()
    return body if ex.status == 200 and isinstance(body, dict) else {}


def _upload_setting(parameters: dict[str, Any], name: str, image_name: str, default: Any) -> Any:
    """One setting of the app's `file_upload` (today's form, or the older image-only one)."""
    config = parameters.get("file_upload") or {}
    return config.get(name) or (config.get("image") or {}).get(image_name) or default


@pytest.fixture(scope="module")
def attached(app: ChatApp, client: Client, run: Run, parameters: dict[str, Any]) -> dict[str, Any]:
    """An image uploaded by one user and sent with a chat message (local files only: a remote URL
    needs a server that reaches the internet, which files.remote_url alone depends on)."""
    if not accepts_files(parameters):
        pytest.skip("the app's /parameters does not enable file_upload with local images: files are ignored")
    user = run.user("files")
    payload = tiny_png(seed=7)
    record = uploaded(client, user, "conformance-still.png", payload, "image/png")
    files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": record["id"]}]
    ex = app.send(user, "Which movie is the best?", files=files)
    expect_status(ex, 200, expected="sendChatMessage 200: an answer to a message with files")
    answer = needs(ex, SEND, app.body(ex), "id", "conversation_id")  # its schema is chat.blocking_shape's
    return {"user": user, "record": record, "payload": payload, "answer": answer, "send": ex}


@pytest.fixture(scope="module")
def remote_attached(app: ChatApp, run: Run, parameters: dict[str, Any]) -> dict[str, Any]:
    """A message with a remote image, when the app takes remote URLs.

    The server fetches the URL to learn its type and size: one that cannot reach the internet (an
    offline or firewalled deployment; Dify 1.12.1 answers 400 `invalid_param` "Reached maximum
    retries ...") cannot be judged here, and the check is skipped with its answer."""
    _op("uploadFile")  # the era's API has files at all (2023: none)
    if not accepts_files(parameters):
        pytest.skip("the app's /parameters does not enable file_upload with local images: files are ignored")
    if "remote_url" not in _upload_setting(parameters, "allowed_file_upload_methods", "transfer_methods", []):
        pytest.skip("the app's /parameters does not allow the remote_url transfer method")
    user = run.user("files-remote")
    files = [{"type": "image", "transfer_method": "remote_url", "url": REMOTE_URL}]
    ex = app.send(user, "Which movie is the best?", files=files)
    body = ex.json()
    if ex.status == 400 and isinstance(body, dict) and body.get("code") == "invalid_param":
        said = str(body.get("message", ""))[:160]
        pytest.skip(f"the server refused the remote URL (it may not reach the internet): 400 {said}")
    expect_status(ex, 200, expected="sendChatMessage 200: an answer to a message with a remote file")
    return {"user": user, "answer": needs(ex, SEND, app.body(ex), "id", "conversation_id")}


@check(
    "files.upload",
    "an upload answers 201 with the stored file: id, name, size, extension, mime type",
    contract="uploadFile 201: UploadedFile, with the name, size and type of the file sent",
)
def test_upload(client: Client, run: Run) -> None:
    payload = tiny_png(seed=3)
    ex = upload(client, run.user("files"), "conformance-poster.png", payload, "image/png")
    expect_status(ex, 201)
    body = expect_json_body(ex, _op("uploadFile"))
    expect(
        body["name"] == "conformance-poster.png", f"name {body['name']!r}, sent 'conformance-poster.png'", ex
    )
    expect(body["size"] == len(payload), f"size {body['size']}, sent {len(payload)} bytes", ex)
    expect(
        str(body["extension"]).lstrip(".").lower() == "png",
        f"extension {body['extension']!r}, wanted png",
        ex,
    )
    expect(body["mime_type"] == "image/png", f"mime_type {body['mime_type']!r}, sent image/png", ex)


@check("files.missing_file", "an upload without a file part is 400 no_file_uploaded")
def test_missing_file(client: Client, run: Run) -> None:
    _op("uploadFile")
    ex = client.call(
        "POST",
        "/files/upload",
        files={"other": ("x.png", tiny_png(), "image/png")},
        data={"user": run.user("files")},
        evidence_body={"other": "x.png", "user": run.user("files")},
    )
    expect_error(ex, _op("uploadFile"), 400, "no_file_uploaded")


@check("files.too_large", "an image over the contract's image size limit is 413 file_too_large")
def test_too_large(client: Client, run: Run) -> None:
    limit = int(file_types()["image"]["x-max-bytes"])
    png = tiny_png()
    ex = upload(client, run.user("files"), "huge.png", png + b"\0" * (limit + 1024 - len(png)), "image/png")
    expect_error(ex, _op("uploadFile"), 413, "file_too_large")


@check(
    "files.unsupported_type",
    "a file type in none of the contract's lists is refused with 415 unsupported_file_type (or accepted)",
    contract=(
        "uploadFile: an extension outside x-file-types is 415 unsupported_file_type; real servers accept "
        "any type by default, so 201 is legal too, any other answer is not"
    ),
)
def test_unsupported_type(client: Client, run: Run) -> None:
    extension = next(e for e in ("exe", "bin", "dll", "so") if e not in known_extensions())
    ex = upload(
        client, run.user("files"), f"tool.{extension}", b"MZ\x90\x00" * 64, "application/octet-stream"
    )
    if ex.status == 201:
        expect_json_body(ex, _op("uploadFile"))
        return
    expect_error(ex, _op("uploadFile"), 415, "unsupported_file_type")


@check("files.preview_unknown", "the preview of an unknown file is 404 file_not_found")
def test_preview_unknown(client: Client, run: Run) -> None:
    expect_error(
        preview(client, str(uuid.uuid4()), run.user("files")), _op("previewFile"), 404, "file_not_found"
    )


@check(
    "files.round_trip",
    "an uploaded file sent with a message previews as the same bytes, with its content type",
    contract="previewFile 200: the file's bytes as uploaded, Content-Type = the file's MIME type",
)
def test_round_trip(client: Client, attached: dict[str, Any]) -> None:
    ex = preview(client, attached["record"]["id"], attached["user"])
    expect_status(ex, 200)
    expect(
        ex.content == attached["payload"],
        f"{len(ex.content)} bytes came back, {len(attached['payload'])} were uploaded (or they differ)",
        ex,
    )
    expect(
        ex.content_type == "image/png", f"content type {ex.content_type or '(none)'}, uploaded image/png", ex
    )


@check(
    "files.as_attachment",
    "as_attachment=true downloads the same bytes with Content-Disposition: attachment",
    contract="previewFile 200 with as_attachment=true: Content-Disposition attachment with the file name",
)
def test_as_attachment(client: Client, attached: dict[str, Any]) -> None:
    ex = preview(client, attached["record"]["id"], attached["user"], as_attachment="true")
    expect_status(ex, 200)
    disposition = ex.headers.get("content-disposition", "")
    expect(disposition.lower().startswith("attachment"), f"Content-Disposition {disposition!r}", ex)
    expect("conformance-still.png" in disposition, f"the file name is not in {disposition!r}", ex)
    expect(ex.content == attached["payload"], "the downloaded bytes differ from the upload", ex)


@check(
    "files.in_history",
    "the message's history item lists the uploaded file in message_files",
    contract="HistoryMessage.message_files: the user's files of the message (belongs_to user)",
)
def test_in_history(app: ChatApp, attached: dict[str, Any]) -> None:
    answer, record = attached["answer"], attached["record"]
    item, ex = _history_item(app, attached["user"], answer["conversation_id"], answer["id"])
    files = item.get("message_files")
    if not (isinstance(files, list) and files):
        fail("the history item has no message_files", ex)
    local = [
        f
        for f in files
        if f.get("upload_file_id") == record["id"] or f.get("transfer_method") == "local_file"
    ]
    expect(len(local) == 1, f"{len(local)} local files in message_files, one was sent", ex)
    entry = local[0]
    expect(
        entry.get("belongs_to") in ("user", None), f"belongs_to {entry.get('belongs_to')!r}, wanted user", ex
    )
    if entry.get("upload_file_id") is not None:
        expect(entry["upload_file_id"] == record["id"], "upload_file_id is not the uploaded file's id", ex)


@check(
    "files.remote_url",
    "a remote_url file sent with a message appears in message_files with its URL",
    contract="HistoryMessage.message_files: a remote_url file keeps the url it was sent with",
)
def test_remote_url(app: ChatApp, remote_attached: dict[str, Any]) -> None:
    answer = remote_attached["answer"]
    item, ex = _history_item(app, remote_attached["user"], answer["conversation_id"], answer["id"])
    urls = [f.get("url") for f in item.get("message_files") or []]
    expect(REMOTE_URL in urls, f"{REMOTE_URL} is not among message_files urls {urls}", ex)


@check("files.unknown_upload", "a chat message with an unknown upload_file_id is 400 invalid_param")
def test_unknown_upload(app: ChatApp, run: Run, attached: dict[str, Any]) -> None:
    files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": str(uuid.uuid4())}]
    ex = app.send(run.user("files"), "Which movie is the best?", files=files, spend=False)
    expect_error(ex, SEND, 400, "invalid_param")


@check(
    "files.type_mismatch",
    "a file sent with a type other than its own (a document as an image) is 400 invalid_param",
    level=SHOULD,
)
def test_type_mismatch(app: ChatApp, client: Client, attached: dict[str, Any]) -> None:
    user = attached["user"]
    record = uploaded(client, user, "conformance-notes.txt", b"Notes on Die Hard.\n", "text/plain")
    files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": record["id"]}]
    ex = app.send(user, "Which movie is the best?", files=files, spend=False)
    expect_error(ex, SEND, 400, "invalid_param")


@check(
    "files.foreign_upload",
    "another user cannot send a file someone else uploaded (400 invalid_param)",
    level=SHOULD,
    contract="sendChatMessage: an upload_file_id that another user uploaded is 400 invalid_param",
)
def test_foreign_upload(app: ChatApp, run: Run, attached: dict[str, Any]) -> None:
    files = [{"type": "image", "transfer_method": "local_file", "upload_file_id": attached["record"]["id"]}]
    ex = app.send(run.user("files-intruder"), "Which movie is the best?", files=files, spend=False)
    expect_error(ex, SEND, 400, "invalid_param")
