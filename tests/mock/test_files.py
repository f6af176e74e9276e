"""Files: upload limits from the contract, preview, files in chat messages, message_files in history."""

from __future__ import annotations

import io
import shutil
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from conformance.samples import tiny_png
from tests.mock.conftest import AUTH, KEY, chat
from tests.mock.contract_check import CheckedClient

ROOT = Path(__file__).resolve().parents[2]
OTHER_KEY = "app-second"
PNG = tiny_png(seed=5)


def upload(
    client: Any, name: str = "poster.png", data: bytes = PNG, ctype: str = "image/png", **form: Any
) -> Any:
    fields: dict[str, Any] = {"file": (io.BytesIO(data), name, ctype), **form}
    if "user" not in form:
        fields["user"] = "u1"
    return client.post("/v1/files/upload", data=fields, headers=AUTH, content_type="multipart/form-data")


def image(upload_id: str, type_: str = "image") -> dict[str, str]:
    return {"type": type_, "transfer_method": "local_file", "upload_file_id": upload_id}


def history(client: Any, conversation_id: str, user: str = "u1") -> list[dict[str, Any]]:
    resp = client.get(f"/v1/messages?conversation_id={conversation_id}&user={user}", headers=AUTH)
    assert resp.status_code == 200
    return resp.json["data"]


def preview(client: Any, file_id: str, key: str = KEY, **query: str) -> Any:
    args = "&".join(f"{k}={v}" for k, v in query.items())
    return client.get(f"/v1/files/{file_id}/preview?{args}", headers={"Authorization": f"Bearer {key}"})


def test_upload_answers_the_stored_file(client) -> None:
    resp = upload(client)
    assert resp.status_code == 201
    body = resp.json
    assert (body["name"], body["size"], body["extension"], body["mime_type"]) == (
        "poster.png",
        len(PNG),
        "png",
        "image/png",
    )
    assert uuid.UUID(body["id"]) and uuid.UUID(body["created_by"])
    assert body["source_url"].startswith("http://localhost/files/" + body["id"] + "/file-preview?")


def test_upload_without_user_belongs_to_the_default_user(client) -> None:
    resp = client.post(
        "/v1/files/upload", data={"file": (io.BytesIO(PNG), "a.png", "image/png")}, headers=AUTH
    )
    assert resp.status_code == 201
    sent = chat(client, user="DEFAULT-USER", files=[image(resp.json["id"])])
    assert sent.status_code == 200


def test_generic_content_type_is_guessed_from_the_name(client) -> None:
    assert upload(client, "notes.txt", b"hi\n", "application/octet-stream").json["mime_type"] == "text/plain"


@pytest.mark.parametrize(
    ("fields", "status", "code"),
    [
        ({"other": (io.BytesIO(PNG), "a.png", "image/png")}, 400, "no_file_uploaded"),
        ({"file": (io.BytesIO(PNG), "", "image/png")}, 400, "filename_not_exists_error"),
        (
            {"file": [(io.BytesIO(PNG), "a.png", "image/png"), (io.BytesIO(PNG), "b.png", "image/png")]},
            400,
            "too_many_files",
        ),
        ({"file": (io.BytesIO(b"x"), "a/b.png", "image/png")}, 400, "invalid_param"),
    ],
)
def test_upload_refusals(client, fields: dict[str, Any], status: int, code: str) -> None:
    resp = client.post("/v1/files/upload", data={**fields, "user": "u1"}, headers=AUTH)
    assert (resp.status_code, resp.json["code"]) == (status, code), resp.json


@pytest.mark.parametrize(
    "request_body",
    [
        {"data": {"user": "u1"}, "content_type": "application/x-www-form-urlencoded"},  # requests' form
        {"data": {"user": "u1"}, "content_type": "multipart/form-data"},
        {"json": {"user": "u1"}},
        {},
    ],
    ids=["urlencoded", "multipart", "json", "no-body"],
)
def test_an_upload_without_a_file_part_is_no_file_uploaded(client, request_body: dict[str, Any]) -> None:
    """Dify reads the file part first, whatever the content type (054-file_upload_missing_file.json)."""
    resp = client.post("/v1/files/upload", headers=AUTH, **request_body)
    assert (resp.status_code, resp.json["code"]) == (400, "no_file_uploaded"), resp.json


@pytest.mark.parametrize(
    ("name", "content_type", "kind"),
    [
        ("evil.exe", "application/x-msdownload", "custom"),
        ("tool.exe", "application/octet-stream", "custom"),
        ("README", "text/plain", "document"),  # no extension: the MIME type says document
        ("clip.xyz", "video/x-xyz", "video"),
    ],
)
def test_any_extension_is_stored_and_its_type_judged_when_attached(
    client, name: str, content_type: str, kind: str
) -> None:
    """chatflow/055-file_upload_bad_type.json: `.exe` is 201 with its MIME type; the type Dify detects
    (extension, else MIME type, else custom) is checked when the file is attached to a message."""
    resp = upload(client, name, b"MZ\x90\x00", content_type)
    assert resp.status_code == 201, resp.json
    assert resp.json["name"] == name
    assert resp.json["mime_type"] == content_type or content_type == "application/octet-stream"  # F1
    other = "image" if kind != "image" else "document"
    refused = chat(client, files=[image(resp.json["id"], other)])
    assert refused.status_code == 400 and "does not match the specified type" in refused.json["message"]
    if kind in {"image", "document"}:  # the app takes images and documents
        assert chat(client, files=[image(resp.json["id"], kind)]).status_code == 200


def test_an_unknown_type_is_attachable_as_custom_with_its_extension_allowed(make_app, tmp_path: Path) -> None:
    client = CheckedClient(make_app())
    file_id = upload(client, "evil.exe", b"MZ", "application/x-msdownload").json["id"]
    assert chat(client, files=[image(file_id, "custom")]).status_code == 400  # no custom extension allowed
    fixtures = _fixtures_with(tmp_path, allowed_file_extensions=[".exe"])
    client = CheckedClient(make_app(fixtures_dir=str(fixtures), store=str(tmp_path / "other.sqlite3")))
    file_id = upload(client, "evil.exe", b"MZ", "application/x-msdownload").json["id"]
    assert chat(client, files=[image(file_id, "custom")]).status_code == 200


def test_an_unknown_extension_has_the_document_size_limit(client) -> None:
    limit = _limits()["document"]["x-max-bytes"]
    assert upload(client, "big.bin", b"\0" * (_limits()["image"]["x-max-bytes"] + 1)).status_code == 201
    resp = upload(client, "big.bin", b"\0" * (limit + 1), "application/octet-stream")
    assert (resp.status_code, resp.json["code"]) == (413, "file_too_large")


def test_extension_is_case_insensitive(client) -> None:
    assert upload(client, "POSTER.PNG").json["extension"] == "png"


def test_size_limit_is_the_contract_s_per_type(client) -> None:
    limit = _limits()["image"]["x-max-bytes"]
    assert upload(client, "big.png", b"\0" * limit).status_code == 201
    resp = upload(client, "big.png", b"\0" * (limit + 1))
    assert (resp.status_code, resp.json["code"]) == (413, "file_too_large")
    assert upload(client, "big.txt", b"\0" * (limit + 1), "text/plain").status_code == 201  # documents: 15 MB


def test_limits_are_read_from_the_contract(make_app, tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    part = doc["components"]["schemas"]["FileUploadRequest"]["properties"]["file"]
    part["x-file-types"]["image"]["x-max-bytes"] = 100
    part["x-file-types"]["document"]["x-file-extensions"].append("srt")
    changed = tmp_path / "openapi.yaml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))
    client = CheckedClient(make_app(contract_path=str(changed)))
    assert upload(client, data=b"\0" * 101).status_code == 413
    assert upload(client, data=b"\0" * 100).status_code == 201
    assert upload(client, "film.srt", b"1\n", "text/plain").status_code == 201


def _limits() -> dict[str, Any]:
    doc = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return doc["components"]["schemas"]["FileUploadRequest"]["properties"]["file"]["x-file-types"]


# ------------------------------------------------------------------ preview


def test_preview_needs_the_file_attached_to_a_message(client) -> None:
    file_id = upload(client).json["id"]
    resp = preview(client, file_id)
    assert (resp.status_code, resp.json["code"]) == (404, "file_not_found")
    assert chat(client, files=[image(file_id)]).status_code == 200
    resp = preview(client, file_id)
    assert resp.status_code == 200
    assert resp.data == PNG and resp.mimetype == "image/png"
    assert resp.headers["Content-Disposition"] == "inline"


def test_preview_as_attachment(client) -> None:
    file_id = upload(client, "Die Hard poster.png").json["id"]
    chat(client, files=[image(file_id)])
    resp = preview(client, file_id, as_attachment="true")
    assert resp.data == PNG
    assert resp.headers["Content-Disposition"] == "attachment; filename*=UTF-8''Die%20Hard%20poster.png"


def test_preview_is_scoped_to_the_app_not_the_user(make_app) -> None:
    client = CheckedClient(make_app(api_keys=[KEY, OTHER_KEY]))
    file_id = upload(client).json["id"]
    chat(client, files=[image(file_id)])
    assert preview(client, file_id, user="someone-else").status_code == 200  # as on real servers
    resp = preview(client, file_id, key=OTHER_KEY)
    assert (resp.status_code, resp.json["code"]) == (403, "file_access_denied")
    assert preview(client, str(uuid.uuid4()), key=OTHER_KEY).json["code"] == "file_not_found"


def test_malformed_file_id_is_404(client) -> None:
    assert preview(client, "not-a-uuid").status_code == 404


def test_signed_url_serves_the_file_without_a_key(client) -> None:
    record = upload(client).json
    url = urlsplit(record["source_url"])
    raw = client.client  # the signed file route is the file server's, not a contract operation
    resp = raw.get(f"{url.path}?{url.query}")
    assert resp.status_code == 200 and resp.data == PNG
    tampered = url.query.replace("sign=", "sign=0")
    assert raw.get(f"{url.path}?{tampered}").status_code == 403


def _signed(link: str, **changes: str) -> str:
    """The path and query of a signed link, some of its parameters replaced."""
    url = urlsplit(link)
    params = dict(pair.split("=", 1) for pair in url.query.split("&"))
    params.update(changes)
    return f"{url.path}?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_the_signing_key_is_not_derived_from_anything_the_mock_shows(client) -> None:
    """It was sha256 of the store path, which /_mock/health prints: anyone could sign any file."""
    import hashlib
    import hmac
    import time

    record = upload(client).json
    health = client.client.get("/_mock/health").json
    guessed = hashlib.sha256(f"chat-mock-files:{health['store']}".encode()).digest()
    timestamp, nonce = str(int(time.time())), "n0nce"
    signed = f"file-preview|{record['id']}|{timestamp}|{nonce}".encode()
    sign = hmac.new(guessed, signed, "sha256").hexdigest()
    forged = f"/files/{record['id']}/file-preview?timestamp={timestamp}&nonce={nonce}&sign={sign}"
    assert client.client.get(forged).status_code == 403


def test_signing_keys_differ_per_app_unless_given(make_app) -> None:
    first, second = CheckedClient(make_app()), CheckedClient(make_app())
    link = upload(first).json["source_url"]
    assert first.client.get(_signed(link)).status_code == 200
    assert second.client.get(_signed(link)).status_code == 403  # another start: another key
    shared = "k" * 64
    one, two = CheckedClient(make_app(link_key=shared)), CheckedClient(make_app(link_key=shared))
    assert two.client.get(_signed(upload(one).json["source_url"])).status_code == 200


@pytest.mark.parametrize(
    ("shift", "status"),
    [(0, 200), (-299, 200), (-301, 403), (30, 200), (3600, 403), (10**9, 403)],
)
def test_signed_links_expire_both_ways(client, shift, status) -> None:
    """A link is valid from its timestamp (less a 60 s clock skew) for 5 minutes: a timestamp in the
    future (`timestamp=9999999999`) is no longer a link that never expires."""
    import time

    from mock_server.handlers.files import _signature
    from mock_server.state import get_state

    file_id = upload(client).json["id"]
    timestamp = str(int(time.time()) + shift)
    sign = _signature(get_state(client.client.application), file_id, timestamp, "n")
    resp = client.client.get(f"/files/{file_id}/file-preview?timestamp={timestamp}&nonce=n&sign={sign}")
    assert resp.status_code == status


@pytest.mark.parametrize(
    "query",
    ["timestamp=%C2%B2&nonce=x&sign=y", "timestamp=1_0&nonce=x&sign=y", "nonce=x&sign=y",
     "timestamp=1&nonce=x", "timestamp=1&nonce=x&sign=%C3%A9", "timestamp=" + "9" * 40 + "&nonce=x&sign=y"],
)  # fmt: skip
def test_malformed_signed_links_are_a_400_never_a_500(client, query) -> None:
    resp = client.client.get(f"/files/{uuid.uuid4()}/file-preview?{query}")
    assert resp.status_code in (400, 403), resp.get_data()[:300]
    if "sign=%C3%A9" not in query:  # a well-formed link whose signature is wrong is a 403
        assert resp.status_code == 400 and resp.json["code"] == "invalid_param", resp.json


# ------------------------------------------------------------------ files in chat messages


def test_history_lists_local_and_remote_files(client) -> None:
    record = upload(client).json
    remote = {
        "type": "document",
        "transfer_method": "remote_url",
        "url": "https://example.com/a/script%20v2.pdf",
    }
    sent = chat(client, files=[image(record["id"]), remote])
    assert sent.status_code == 200
    item = history(client, sent.json["conversation_id"])[-1]
    local_file, remote_file = item["message_files"]
    assert local_file["upload_file_id"] == record["id"] and local_file["id"] != record["id"]
    assert (local_file["filename"], local_file["size"], local_file["mime_type"]) == (
        "poster.png",
        len(PNG),
        "image/png",
    )
    assert (local_file["transfer_method"], local_file["belongs_to"], local_file["type"]) == (
        "local_file",
        "user",
        "image",
    )
    url = urlsplit(local_file["url"])
    assert client.client.get(f"{url.path}?{url.query}").data == PNG
    assert remote_file["url"] == remote["url"] and remote_file["filename"] == "script v2.pdf"
    assert (remote_file["upload_file_id"], remote_file["size"], remote_file["mime_type"]) == (
        None,
        -1,
        "application/pdf",
    )


def test_messages_without_files_have_an_empty_list(client) -> None:
    sent = chat(client)
    assert history(client, sent.json["conversation_id"])[-1]["message_files"] == []


def test_streamed_message_keeps_its_files(client) -> None:
    file_id = upload(client).json["id"]
    resp = chat(client, files=[image(file_id)], response_mode="streaming")
    assert resp.status_code == 200
    conversation_id = next(e for e in resp.get_data(as_text=True).split("\n\n") if "conversation_id" in e)
    conv = conversation_id.split('"conversation_id":')[1].split('"')[1]
    assert history(client, conv)[-1]["message_files"][0]["upload_file_id"] == file_id


@pytest.mark.parametrize("who", ["other-user", "other-key"])
def test_another_owner_s_upload_cannot_be_used(make_app, who: str) -> None:
    client = CheckedClient(make_app(api_keys=[KEY, OTHER_KEY]))
    headers = {"Authorization": f"Bearer {OTHER_KEY}"} if who == "other-key" else {}
    file_id = upload(client).json["id"]
    user = "u2" if who == "other-user" else "u1"
    resp = chat(client, user=user, headers=headers, files=[image(file_id)])
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_param")
    assert "Invalid upload file" in resp.json["message"]


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ([image(str(uuid.uuid4()))], "Invalid upload file"),
        ([{"type": "image", "transfer_method": "local_file"}], "upload_file_id"),
        ([{"type": "image", "transfer_method": "remote_url"}], "url"),
        ([{"type": "image", "transfer_method": "remote_url", "url": "ftp://x/y.png"}], "files"),
        ([{"type": "sticker", "transfer_method": "remote_url", "url": "https://x/y.png"}], "type"),
        (
            [
                {"type": "image", "transfer_method": "remote_url", "url": f"https://x/{n}.png"}
                for n in range(4)
            ],
            "maximum limit 3",
        ),
    ],
)
def test_bad_files_are_refused(client, files: list[dict[str, Any]], words: str) -> None:
    resp = chat(client, files=files)
    assert (resp.status_code, resp.json["code"]) == (400, "invalid_param")
    assert words in resp.json["message"], resp.json


def test_detected_type_must_match_unless_custom(client) -> None:
    file_id = upload(client, "notes.txt", b"Notes\n", "text/plain").json["id"]
    resp = chat(client, files=[image(file_id)])
    assert resp.status_code == 400 and "does not match the specified type" in resp.json["message"]
    assert chat(client, files=[image(file_id, "document")]).status_code == 200


def test_custom_files_need_an_allowed_extension(make_app, tmp_path: Path) -> None:
    client = CheckedClient(make_app())
    file_id = upload(client, "notes.txt", b"Notes\n", "text/plain").json["id"]
    resp = chat(client, files=[image(file_id, "custom")])  # the app allows no custom extension
    assert resp.status_code == 400 and "extension of notes.txt is not allowed" in resp.json["message"]
    fixtures = _fixtures_with(tmp_path, allowed_file_extensions=[".txt"])
    client = CheckedClient(make_app(fixtures_dir=str(fixtures), store=str(tmp_path / "other.sqlite3")))
    file_id = upload(client, "notes.txt", b"Notes\n", "text/plain").json["id"]
    assert chat(client, files=[image(file_id, "custom")]).status_code == 200


def _fixtures_with(tmp_path: Path, **file_upload: Any) -> Path:
    """A copy of fixtures/ whose app has these file_upload settings (enabled=None: none at all)."""
    fixtures = tmp_path / "fixtures"
    shutil.copytree(ROOT / "fixtures", fixtures)
    app_doc = yaml.safe_load((fixtures / "app.yaml").read_text())
    if "enabled" in file_upload and file_upload["enabled"] is None:
        app_doc["parameters"].pop("file_upload")
    else:
        app_doc["parameters"]["file_upload"].update(file_upload)
    (fixtures / "app.yaml").write_text(yaml.safe_dump(app_doc, sort_keys=False))
    return fixtures


def test_files_are_ignored_when_the_app_takes_none(make_app, tmp_path: Path) -> None:
    client = CheckedClient(make_app(fixtures_dir=str(_fixtures_with(tmp_path, enabled=None))))
    sent = chat(client, files=[image(str(uuid.uuid4()))])  # not even checked, as on real servers
    assert sent.status_code == 200
    assert history(client, sent.json["conversation_id"])[-1]["message_files"] == []
